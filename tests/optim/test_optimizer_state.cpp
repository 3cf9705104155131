// Optimizer state export/import (checkpoints): a restored optimizer continues
// bit-identically; bad state is rejected with a message naming the entry.
#include <gtest/gtest.h>

#include "core/optim/optimizer.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"

namespace perceptra {
namespace {

struct Net {
  Parameter w, b;
  explicit Net(uint64_t seed) {
    Rng rng(seed);
    std::vector<float> wv(12), bv(3);
    for (auto& x : wv) x = rng.normal();
    for (auto& x : bv) x = rng.normal();
    w = {"fc.weight", Tensor::from_vector(Shape{3, 4}, wv), Tensor::zeros(Shape{3, 4})};
    b = {"fc.bias", Tensor::from_vector(Shape{3}, bv), Tensor::zeros(Shape{3})};
    b.decay = false;
  }
  Net(const Net& o) : w(o.w), b(o.b) {
    w.value = o.w.value.clone();
    w.grad = o.w.grad.clone();
    b.value = o.b.value.clone();
    b.grad = o.b.grad.clone();
  }
  std::vector<Parameter*> params() { return {&w, &b}; }
  // Deterministic pseudo-gradients that depend on the weights.
  void fill_grads(int step) {
    std::vector<float> wv = w.value.to_vector(), bv = b.value.to_vector();
    for (size_t i = 0; i < wv.size(); ++i) wv[i] = 0.5f * wv[i] + 0.1f * float((i + step) % 5) - 0.2f;
    for (size_t i = 0; i < bv.size(); ++i) bv[i] = bv[i] - 0.3f * float(step % 3);
    w.grad.copy_from(Tensor::from_vector(w.value.shape(), wv));
    b.grad.copy_from(Tensor::from_vector(b.value.shape(), bv));
  }
};

OptimizerConfig config_for(const std::string& kind) {
  OptimizerConfig c;
  c.kind = kind;
  c.lr = kind == "lars" ? 0.5f : 0.01f;
  c.weight_decay = 0.01f;
  c.nesterov = kind == "sgd";
  return c;
}

TEST(OptimizerState, SaveLoadContinuesIdentically) {
  for (std::string kind : {"sgd", "adam", "adamw", "lars"}) {
    SCOPED_TRACE(kind);
    Net a(7);
    auto opt_a = make_optimizer(config_for(kind), a.params());
    for (int s = 0; s < 3; ++s) {
      a.fill_grads(s);
      opt_a->set_lr(opt_a->lr() * 0.9f);
      opt_a->step();
    }
    Net b(a);  // the checkpointed weights
    auto saved = opt_a->state();
    auto opt_b = make_optimizer(config_for(kind), b.params());
    opt_b->load_state(saved);
    opt_b->set_lr(opt_a->lr());
    EXPECT_EQ(opt_b->step_count(), 3);
    for (int s = 3; s < 7; ++s) {
      a.fill_grads(s);
      b.fill_grads(s);
      opt_a->step();
      opt_b->step();
      ASSERT_EQ(a.w.value.to_vector(), b.w.value.to_vector()) << "step " << s;
      ASSERT_EQ(a.b.value.to_vector(), b.b.value.to_vector()) << "step " << s;
    }
    // The export is a copy: stepping on does not change what was saved.
    auto again = opt_a->state();
    ASSERT_EQ(again.size(), saved.size());
    EXPECT_NE(again[0].second.to_vector(), saved[0].second.to_vector());
  }
}

TEST(OptimizerState, WithoutLoadingTheRunDiffers) {
  // Guards the test above: a fresh optimizer (no state) takes other steps.
  Net a(7);
  auto opt_a = make_optimizer(config_for("adam"), a.params());
  for (int s = 0; s < 3; ++s) {
    a.fill_grads(s);
    opt_a->step();
  }
  Net b(a);
  auto opt_b = make_optimizer(config_for("adam"), b.params());
  a.fill_grads(3);
  b.fill_grads(3);
  opt_a->step();
  opt_b->step();
  EXPECT_NE(a.w.value.to_vector(), b.w.value.to_vector());
}

TEST(OptimizerState, NamesFollowParameterOrder) {
  Net a(1);
  auto opt = make_optimizer(config_for("adam"), a.params());
  a.fill_grads(0);
  opt->step();
  std::vector<std::string> names;
  for (const auto& [n, t] : opt->state()) names.push_back(n);
  EXPECT_EQ(names,
            (std::vector<std::string>{"fc.weight.exp_avg", "fc.weight.exp_avg_sq", "fc.weight.step", "fc.bias.exp_avg",
                                      "fc.bias.exp_avg_sq", "fc.bias.step", "optimizer.step"}));
}

std::string load_error(const std::string& kind, const std::vector<std::pair<std::string, Tensor>>& state) {
  Net a(1);
  auto opt = make_optimizer(config_for(kind), a.params());
  try {
    opt->load_state(state);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(OptimizerState, BadStateIsRejected) {
  Net a(1);
  auto adam = make_optimizer(config_for("adam"), a.params());
  a.fill_grads(0);
  adam->step();
  auto adam_state = adam->state();
  // Adam state into SGD: no such slot.
  EXPECT_NE(load_error("sgd", adam_state).find("exp_avg"), std::string::npos);
  // Unknown parameter.
  EXPECT_NE(load_error("sgd", {{"conv9.weight.momentum_buffer", Tensor::zeros(Shape{3, 4})}}).find("conv9.weight"),
            std::string::npos);
  // Wrong shape.
  EXPECT_NE(
      load_error("sgd", {{"fc.weight.momentum_buffer", Tensor::zeros(Shape{5})}}).find("fc.weight.momentum_buffer"),
      std::string::npos);
  // Missing slot.
  EXPECT_NE(load_error("adam", {{"fc.bias.exp_avg", Tensor::zeros(Shape{3})}}).find("exp_avg_sq"), std::string::npos);
  EXPECT_EQ(load_error("adam", adam_state), "(no error)");
}

TEST(OptimizerState, DuplicateNamesAreRefused) {
  Net a(1);
  a.b.name = a.w.name;
  EXPECT_THROW(make_optimizer(config_for("sgd"), a.params()), Error);
}

}  // namespace
}  // namespace perceptra
