#include <gtest/gtest.h>

#include <cstring>

#include "core/io/checkpoint.h"
#include "core/nn/loss.h"
#include "core/optim/optimizer.h"
#include "core/tensor/error.h"
#include "tests/io/io_test_util.h"

using namespace perceptra;
using namespace perceptra::iotest;

namespace {

// Dropout and batch norm make resume depend on more than the weights.
nlohmann::json drop_spec() {
  return {{"name", "drop-mlp"},
          {"input", {1, 8, 8}},
          {"classes", 4},
          {"layers",
           {{{"type", "flatten"}},
            {{"type", "linear"}, {"out_features", 32}},
            {{"type", "relu"}},
            {{"type", "dropout"}, {"p", 0.3}},
            {{"type", "batchnorm1d"}},
            {{"type", "linear"}, {"out_features", 4}}}}};
}

struct Trainee {
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> opt;
  explicit Trainee(const std::string& kind, uint64_t seed = 3) {
    Rng rng(seed);
    model = Model::from_spec(drop_spec(), rng);
    OptimizerConfig c;
    c.kind = kind;
    c.lr = 0.05f;
    c.momentum = 0.9f;
    c.weight_decay = 1e-4f;
    opt = make_optimizer(c, model->parameters());
  }
  // One SGD step on batch `b` of a fixed synthetic problem.
  double step(int b) {
    Tensor x = random_input(Shape{1, 8, 8}, 16, 1000 + b);
    std::vector<float> labels(16);
    for (int i = 0; i < 16; ++i) labels[size_t(i)] = float((i + b) % 4);
    SoftmaxCrossEntropy loss;
    double l = loss.forward(model->forward(x, true), Tensor::from_vector(Shape{16}, labels));
    model->backward(loss.backward());
    opt->step();
    return l;
  }
};

std::vector<float> all_weights(Model& m) {
  std::vector<float> out;
  for (auto* p : m.parameters()) {
    auto v = p->value.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace

class CheckpointResume : public ::testing::TestWithParam<std::string> {};

TEST_P(CheckpointResume, ResumedTrainingMatchesUninterruptedBitForBit) {
  TempDir t;
  std::string path = t.file("ck.pckpt");
  Trainee a(GetParam());
  for (int b = 0; b < 5; ++b) a.step(b);
  a.opt->set_lr(0.02f);  // a schedule moved it
  a.opt->groups()[0].lr_scale = 0.5f;
  CheckpointState st;
  st.epoch = 1;
  st.step = 5;
  Rng data_rng(77);
  data_rng.normal();  // leaves a spare normal cached: state must carry it
  st.rng["data"] = data_rng.save();
  st.schedule = {{"kind", "cosine"}, {"position", 5}};
  st.trainer = {{"best_valid_accuracy", 0.5}, {"run_id", 12}};
  ModelMeta meta;
  meta.class_names = {"a", "b", "c", "d"};
  save_checkpoint(path, *a.model, a.opt.get(), meta, st);

  // Uninterrupted continuation.
  std::vector<double> la;
  for (int b = 5; b < 10; ++b) la.push_back(a.step(b));

  // A new process: fresh objects with a different init, restored from disk.
  Trainee r(GetParam(), /*seed=*/999);
  Checkpoint ck = load_checkpoint(path);
  restore_checkpoint(ck, *r.model, r.opt.get(), path);
  EXPECT_EQ(ck.state.epoch, 1);
  EXPECT_EQ(ck.state.step, 5);
  EXPECT_EQ(ck.state.schedule["position"], 5);
  EXPECT_EQ(ck.state.trainer["run_id"], 12);
  EXPECT_EQ(ck.meta.class_names.size(), 4u);
  EXPECT_FLOAT_EQ(r.opt->lr(), 0.02f);
  EXPECT_FLOAT_EQ(r.opt->groups()[0].lr_scale, 0.5f);
  EXPECT_EQ(r.opt->step_count(), 5);
  Rng restored(0);
  restored.load(ck.state.rng.at("data"));
  EXPECT_EQ(restored.normal(), data_rng.normal());

  std::vector<double> lr_;
  for (int b = 5; b < 10; ++b) lr_.push_back(r.step(b));
  EXPECT_EQ(la, lr_);  // same loss curve, exactly
  auto wa = all_weights(*a.model), wr = all_weights(*r.model);
  ASSERT_EQ(wa.size(), wr.size());
  EXPECT_EQ(std::memcmp(wa.data(), wr.data(), wa.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, CheckpointResume, ::testing::Values("sgd", "adam"));

TEST(Checkpoint, ModelFileIsNotACheckpointButCheckpointLoadsAsModel) {
  TempDir t;
  Trainee a("sgd");
  a.step(0);
  save_model(t.file("m.pmodel"), *a.model);
  try {
    load_checkpoint(t.file("m.pmodel"));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not a checkpoint"), std::string::npos) << e.what();
  }
  save_checkpoint(t.file("c.pckpt"), *a.model, a.opt.get(), {}, {});
  auto loaded = load_model(t.file("c.pckpt"));
  EXPECT_EQ(all_weights(*loaded.model), all_weights(*a.model));
  auto built = build_model(load_checkpoint(t.file("c.pckpt")));
  EXPECT_EQ(all_weights(*built), all_weights(*a.model));
  EXPECT_EQ(inspect_model_file(t.file("c.pckpt")).kind, "checkpoint");
}

TEST(Checkpoint, WithoutOptimizerAndMismatchedModel) {
  TempDir t;
  Trainee a("sgd");
  save_checkpoint(t.file("c.pckpt"), *a.model, nullptr, {}, {});
  Checkpoint ck = load_checkpoint(t.file("c.pckpt"));
  EXPECT_TRUE(ck.optimizer.is_null());
  EXPECT_TRUE(ck.optimizer_state.empty());
  Trainee b("sgd", 5);
  auto before = all_weights(*b.model);
  EXPECT_THROW(restore_checkpoint(ck, *b.model, b.opt.get(), "c.pckpt"), InputError);
  EXPECT_EQ(all_weights(*b.model), before);  // refused: nothing changed
  restore_checkpoint(ck, *b.model, nullptr, "c.pckpt");
  EXPECT_EQ(all_weights(*b.model), all_weights(*a.model));

  Rng rng(1);
  auto other = Model::from_spec(Model::builtin_spec("mlp", Shape{1, 8, 8}, 4), rng);
  try {
    restore_checkpoint(ck, *other, nullptr, "c.pckpt");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("c.pckpt"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, CorruptCheckpointIsRefused) {
  TempDir t;
  Trainee a("adam");
  a.step(0);
  std::string path = t.file("c.pckpt");
  save_checkpoint(path, *a.model, a.opt.get(), {}, {});
  std::string b = read_bytes(path);
  b[b.size() / 2] = char(b[b.size() / 2] ^ 0x40);
  write_bytes(path, b);
  EXPECT_THROW(load_checkpoint(path), InputError);
  write_bytes(path, b.substr(0, b.size() - 100));
  EXPECT_THROW(load_checkpoint(path), InputError);
}
