// Optimizer updates against PyTorch (torch.optim.SGD/Adam/AdamW) and the
// NumPy LARS formula, several steps with LR/momentum changes between steps.
// Tolerance: |ours - ref| <= 2e-6 + 1e-5 |ref| (float32 arithmetic in a
// different order than PyTorch's kernels).
#include <cmath>

#include <gtest/gtest.h>

#include "core/optim/optimizer.h"
#include "core/tensor/error.h"
#include "tests/optim/fixture_json.h"

namespace perceptra {
namespace {

Parameter make_param(const std::string& name, const Shape& shape, const std::vector<float>& v) {
  Parameter p;
  p.name = name;
  p.value = Tensor::from_vector(shape, v);
  p.grad = Tensor::zeros(shape);
  return p;
}

Shape shape_of(const nlohmann::json& dims) { return Shape(dims.get<std::vector<int64_t>>()); }

void expect_close(const std::vector<float>& got, const nlohmann::json& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    double w = want[i].get<double>();
    EXPECT_NEAR(got[i], w, 2e-6 + 1e-5 * std::fabs(w)) << what << " element " << i;
  }
}

TEST(OptimizerParity, MatchesPyTorchAndLarsFormula) {
  nlohmann::json fx = test::load_fixture("optim/optimizers.json");
  const int steps = fx["steps"];
  ASSERT_GE(fx["cases"].size(), 10u);
  for (const auto& c : fx["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    Parameter w = make_param("w", shape_of(c["shapes"]["w"]), c["init"]["w"]);
    Parameter b = make_param("b", shape_of(c["shapes"]["b"]), c["init"]["b"]);
    // torch.optim decays every parameter; the LARS reference excludes "b".
    b.decay = c["config"]["kind"] != "lars";
    auto opt = make_optimizer(OptimizerConfig::from_json(c["config"]), {&w, &b});
    for (int s = 0; s < steps; ++s) {
      opt->set_lr(c["lrs"][s].get<float>());
      opt->set_momentum(c["momenta"][s].get<float>());
      w.grad.copy_from(Tensor::from_vector(w.value.shape(), c["grads"][s]["w"]));
      b.grad.copy_from(Tensor::from_vector(b.value.shape(), c["grads"][s]["b"]));
      opt->step();
      expect_close(w.value.to_vector(), c["after"][s]["w"], name + " step " + std::to_string(s) + " w");
      expect_close(b.value.to_vector(), c["after"][s]["b"], name + " step " + std::to_string(s) + " b");
    }
    EXPECT_EQ(opt->step_count(), steps);
  }
}

// Two parameters with identical values and grads in groups 0 and 1.
struct TwoGroups {
  Parameter a = make_param("a", Shape{4}, {1, -2, 3, 0.5f});
  Parameter b = make_param("b", Shape{4}, {1, -2, 3, 0.5f});
  TwoGroups() {
    b.group = 1;
    a.grad.copy_from(Tensor::from_vector(Shape{4}, {0.3f, -1, 2, 0.1f}));
    b.grad.copy_from(a.grad);
  }
};

TEST(OptimizerGroups, LrScaleMultipliesTheGroupLr) {
  for (std::string kind : {"sgd", "adam", "adamw", "lars"}) {
    SCOPED_TRACE(kind);
    TwoGroups t;
    OptimizerConfig cfg;
    cfg.kind = kind;
    cfg.lr = 0.1f;
    cfg.momentum = kind == "lars" || kind == "sgd" ? 0.f : 0.9f;
    cfg.lars_eta = 1.f;
    auto opt = make_optimizer(cfg, {&t.a, &t.b});
    ASSERT_EQ(opt->groups().size(), 2u);  // sized from the largest Parameter::group
    opt->groups()[1].lr_scale = 0.25f;
    std::vector<float> a0 = t.a.value.to_vector(), b0 = a0;
    opt->step();
    std::vector<float> a1 = t.a.value.to_vector(), b1 = t.b.value.to_vector();
    for (size_t i = 0; i < a0.size(); ++i) {
      float da = a1[i] - a0[i], db = b1[i] - b0[i];
      EXPECT_NE(da, 0.f);
      // The first update is linear in the LR for every kind.
      EXPECT_NEAR(db, 0.25f * da, 1e-6f) << "element " << i;
    }
  }
}

TEST(OptimizerGroups, GroupOutsideTheListIsAnError) {
  TwoGroups t;
  auto opt = make_optimizer(OptimizerConfig{}, {&t.a, &t.b});
  t.b.group = 3;
  EXPECT_THROW(opt->step(), Error);
}

TEST(OptimizerFrozen, FrozenAndGradlessParametersAreUntouched) {
  for (std::string kind : {"sgd", "adam", "adamw", "lars"}) {
    SCOPED_TRACE(kind);
    TwoGroups t;
    t.b.group = 0;
    t.b.trainable = false;
    Parameter buffer = make_param("running_mean", Shape{4}, {1, 2, 3, 4});
    buffer.grad = Tensor();
    buffer.trainable = false;
    OptimizerConfig cfg;
    cfg.kind = kind;
    cfg.weight_decay = 0.1f;
    auto opt = make_optimizer(cfg, {&t.a, &t.b, &buffer});
    std::vector<float> b0 = t.b.value.to_vector(), a0 = t.a.value.to_vector();
    for (int s = 0; s < 3; ++s) opt->step();
    EXPECT_EQ(t.b.value.to_vector(), b0);
    EXPECT_NE(t.a.value.to_vector(), a0);
    EXPECT_EQ(buffer.value.to_vector(), (std::vector<float>{1, 2, 3, 4}));
    for (const auto& [name, tensor] : opt->state())
      EXPECT_TRUE(name.rfind("a.", 0) == 0 || name == "optimizer.step") << name;

    // Unfrozen, it starts fresh: same first update as a new optimizer gives.
    Parameter twin = make_param("twin", Shape{4}, b0);
    twin.grad.copy_from(t.b.grad);
    auto fresh = make_optimizer(cfg, {&twin});
    t.b.trainable = true;
    opt->step();
    fresh->step();
    EXPECT_EQ(t.b.value.to_vector(), twin.value.to_vector());
  }
}

TEST(OptimizerDecay, DecayFalseMeansNoWeightDecay) {
  for (std::string kind : {"sgd", "adam", "adamw"}) {
    SCOPED_TRACE(kind);
    TwoGroups with, without;
    with.a.decay = false;
    OptimizerConfig cfg;
    cfg.kind = kind;
    cfg.weight_decay = 0.5f;
    auto o1 = make_optimizer(cfg, {&with.a});
    cfg.weight_decay = 0.f;
    auto o2 = make_optimizer(cfg, {&without.a});
    for (int s = 0; s < 3; ++s) {
      o1->step();
      o2->step();
    }
    EXPECT_EQ(with.a.value.to_vector(), without.a.value.to_vector());
  }
}

TEST(OptimizerConfigJson, RoundTripAndDefaults) {
  OptimizerConfig c;
  c.kind = "adamw";
  c.lr = 3e-4f;
  c.weight_decay = 0.05f;
  c.beta2 = 0.99f;
  OptimizerConfig r = OptimizerConfig::from_json(c.to_json());
  EXPECT_EQ(r.to_json(), c.to_json());
  OptimizerConfig d = OptimizerConfig::from_json(nlohmann::json::object());
  EXPECT_EQ(d.kind, "sgd");
  EXPECT_FLOAT_EQ(d.lr, 0.01f);
}

std::string error_of(const nlohmann::json& j) {
  try {
    OptimizerConfig::from_json(j);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(OptimizerConfigJson, ErrorsNameTheField) {
  EXPECT_NE(error_of({{"lr", -1}}).find("'lr'"), std::string::npos);
  EXPECT_NE(error_of({{"lr", "fast"}}).find("'lr'"), std::string::npos);
  EXPECT_NE(error_of({{"momentum", 1.5}}).find("'momentum'"), std::string::npos);
  EXPECT_NE(error_of({{"kind", "rmsprop"}}).find("'kind'"), std::string::npos);
  EXPECT_NE(error_of({{"weight_dacay", 0.1}}).find("'weight_dacay'"), std::string::npos);
  EXPECT_NE(error_of({{"nesterov", true}, {"momentum", 0}}).find("'nesterov'"), std::string::npos);
  EXPECT_NE(error_of({{"nesterov", 1}}).find("'nesterov'"), std::string::npos);
  EXPECT_NE(error_of({{"eps", 0}}).find("'eps'"), std::string::npos);
  EXPECT_NE(error_of(nlohmann::json::array()).find("optimizer"), std::string::npos);
  EXPECT_EQ(error_of({{"kind", "lars"}, {"lars_eta", 0.01}}), "(no error)");
}

}  // namespace
}  // namespace perceptra
