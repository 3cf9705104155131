// Precise BatchNorm: the cumulative average, the re-estimation on a fixed
// subset (weights and dropout sequence untouched), and the trainer's use of
// it before each validation (training itself unchanged).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/data/memory_dataset.h"
#include "core/nn/batchnorm.h"
#include "core/nn/dropout.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"
#include "core/train/precise_bn.h"
#include "core/train/prepared_run.h"
#include "core/train/trainer.h"
#include "tests/train/tiny_data.h"

using namespace perceptra;
using namespace std::chrono_literals;

namespace {

nlohmann::json bn_spec() {
  return {{"name", "tiny-bn"},
          {"input", {1, 12, 12}},
          {"classes", 3},
          {"layers",
           {{{"type", "conv2d"}, {"name", "conv"}, {"out_channels", 4}, {"kernel", 3}},
            {{"type", "batchnorm2d"}, {"name", "bn"}},
            {{"type", "relu"}},
            {{"type", "dropout"}, {"p", 0.2}},
            {{"type", "flatten"}},
            {{"type", "linear"}, {"name", "fc"}, {"out_features", 3}}}}};
}

Tensor random_tensor(Shape s, Rng& rng, float shift) {
  std::vector<float> v(size_t(s.numel()));
  for (float& x : v) x = rng.normal(shift, 2.f);
  return Tensor::from_vector(s, v);
}

std::vector<float> param(Model& m, const std::string& name) {
  for (Parameter* p : m.parameters())
    if (p->name == name) return p->value.to_vector();
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

void set_param(Model& m, const std::string& name, float v) {
  for (Parameter* p : m.parameters())
    if (p->name == name) p->value.fill(v);
}

std::shared_ptr<MemoryDataset> random_images(int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint8_t> px(size_t(n) * 144);
  for (auto& p : px) p = uint8_t(rng.below(256));
  std::vector<int32_t> labels(static_cast<size_t>(n), 0);
  for (int i = 0; i < n; ++i) labels[size_t(i)] = i % 3;
  return std::make_shared<MemoryDataset>("random", Shape{1, 12, 12}, std::vector<std::string>{"a", "b", "c"},
                                         std::move(px), std::move(labels));
}

}  // namespace

// Every batch since the switch weighs the same (momentum 1/k), then the
// exponential average returns.
TEST(PreciseBn, CumulativeModeAveragesBatchesEqually) {
  BatchNorm bn(true, 2);
  Rng rng(3);
  const int sizes[3] = {4, 7, 2};
  std::vector<double> mean_sum(2, 0), var_sum(2, 0);
  bn.forward(random_tensor({5, 2, 3, 3}, rng, 9.f), true);  // stale statistics first
  bn.set_cumulative(true);
  for (int b = 0; b < 3; ++b) {
    Tensor x = random_tensor({sizes[b], 2, 3, 3}, rng, float(b));
    std::vector<float> v = x.to_vector();
    for (int c = 0; c < 2; ++c) {
      double s = 0, ss = 0;
      const int count = sizes[b] * 9;
      for (int n = 0; n < sizes[b]; ++n)
        for (int i = 0; i < 9; ++i) s += v[size_t((n * 2 + c) * 9 + i)];
      const double m = s / count;
      for (int n = 0; n < sizes[b]; ++n)
        for (int i = 0; i < 9; ++i) ss += std::pow(v[size_t((n * 2 + c) * 9 + i)] - m, 2);
      mean_sum[size_t(c)] += m;
      var_sum[size_t(c)] += ss / (count - 1);
    }
    bn.forward(x, true);
  }
  bn.set_cumulative(false);
  std::vector<Parameter*> ps = bn.parameters();
  std::vector<float> rm, rv;
  for (Parameter* p : ps) {
    if (p->name.find("running_mean") != std::string::npos) rm = p->value.to_vector();
    if (p->name.find("running_var") != std::string::npos) rv = p->value.to_vector();
  }
  ASSERT_EQ(rm.size(), 2u);
  ASSERT_EQ(rv.size(), 2u);
  for (size_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(rm[c], mean_sum[c] / 3, 1e-4);
    EXPECT_NEAR(rv[c], var_sum[c] / 3, 1e-3);
  }
  // Off again: momentum 0.1.
  Tensor x = Tensor::full({4, 2, 3, 3}, 50.f);
  bn.forward(x, true);
  for (Parameter* p : ps)
    if (p->name.find("running_mean") != std::string::npos) {
      for (size_t c = 0; c < 2; ++c) EXPECT_NEAR(p->value.to_vector()[c], 0.9 * rm[c] + 0.1 * 50.0, 1e-3);
    }
}

// One batch holding the whole subset gives its exact mean; equal halves give
// the same mean. Weights and the dropout sequence stay as they were.
TEST(PreciseBn, ReestimatesOnTheSubsetAndTouchesNothingElse) {
  Rng rng(5);
  auto model = Model::from_spec(bn_spec(), rng);
  auto data = random_images(64, 11);
  Dropout* drop = nullptr;
  for (Layer* l : model->layers())
    if (auto* d = dynamic_cast<Dropout*>(l)) drop = d;
  ASSERT_NE(drop, nullptr);
  model->forward(Tensor::full({2, 1, 12, 12}, 0.5f), true);
  const uint64_t calls = drop->calls();
  const std::vector<float> w = param(*model, "conv.weight"), head = param(*model, "fc.weight");
  ASSERT_FALSE(w.empty());

  PreciseBnOptions o;
  o.batch_size = 64;
  o.max_images = 64;
  std::vector<int64_t> all(64);
  for (int i = 0; i < 64; ++i) all[size_t(i)] = i;
  EXPECT_EQ(precise_bn_subset(all, o).size(), 64u);  // a quarter is less than a batch here
  set_param(*model, "bn.running_mean", 123.f);
  EXPECT_EQ(reestimate_batchnorm(*model, data, all, o), 64);
  const std::vector<float> whole = param(*model, "bn.running_mean");
  // The conv's output means over the 64 images, computed directly.
  std::vector<float> px(64 * 144);
  for (int i = 0; i < 64; ++i) data->image(i, px.data() + i * 144);
  Tensor conv_out = model->layers()[0]->forward(Tensor::from_vector({64, 1, 12, 12}, px), false);
  std::vector<float> co = conv_out.to_vector();
  const int64_t plane = conv_out.numel() / (64 * 4);
  for (int c = 0; c < 4; ++c) {
    double s = 0;
    for (int n = 0; n < 64; ++n)
      for (int64_t i = 0; i < plane; ++i) s += co[size_t((n * 4 + c) * plane + i)];
    EXPECT_NEAR(whole[size_t(c)], s / double(64 * plane), 1e-4) << "channel " << c;
  }

  o.batch_size = 32;
  set_param(*model, "bn.running_mean", -7.f);
  EXPECT_EQ(reestimate_batchnorm(*model, data, all, o), 64);
  const std::vector<float> halves = param(*model, "bn.running_mean");
  for (size_t c = 0; c < 4; ++c) EXPECT_NEAR(halves[c], whole[c], 1e-4);
  EXPECT_EQ(param(*model, "conv.weight"), w);
  EXPECT_EQ(param(*model, "fc.weight"), head);
  EXPECT_EQ(drop->calls(), calls);
}

// The setting travels with a run's stored configuration; a bad value names
// the field.
TEST(PreciseBn, ConfigFieldRoundTripsAndIsChecked) {
  TrainConfig c;
  c.data = "sample";
  c.precise_bn = 512;
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).precise_bn, 512);
  nlohmann::json j = c.to_json();
  j.erase("precise_bn");  // a run recorded before the field existed
  EXPECT_EQ(TrainConfig::from_json(j).precise_bn, 2048);
  j["precise_bn"] = -1;
  try {
    TrainConfig::from_json(j);
    ADD_FAILURE() << "a negative precise_bn was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("precise_bn"), std::string::npos) << e.what();
  }
  j["precise_bn"] = "many";
  EXPECT_THROW(TrainConfig::from_json(j), InputError);
}

TEST(PreciseBn, SubsetIsASeededDrawCappedAtAQuarter) {
  std::vector<int64_t> idx(1000);
  for (int i = 0; i < 1000; ++i) idx[size_t(i)] = 5000 + i;
  PreciseBnOptions o;
  o.batch_size = 16;
  o.seed = 1;
  std::vector<int64_t> a = precise_bn_subset(idx, o), b = precise_bn_subset(idx, o);
  EXPECT_EQ(a.size(), 250u);
  EXPECT_EQ(a, b);
  std::set<int64_t> distinct(a.begin(), a.end());
  EXPECT_EQ(distinct.size(), a.size());
  for (int64_t v : a) EXPECT_TRUE(v >= 5000 && v < 6000);
  o.seed = 2;
  EXPECT_NE(precise_bn_subset(idx, o), a);
  o.max_images = 100;
  EXPECT_EQ(precise_bn_subset(idx, o).size(), 100u);
}

// The trainer re-estimates before validating: the same training steps with
// it on and off; with it on, the final statistics are exactly what
// re-estimating the final weights on the run's subset gives.
TEST(PreciseBn, TrainerValidatesWithStatisticsOfTheFinalWeights) {
  const std::string dir = test::make_temp_dir("precise-bn");
  const std::string data = test::make_tiny_dataset(dir + "/data");
  auto run = [&](int64_t precise, std::vector<double>& losses) {
    TrainConfig c;
    c.data = data;
    c.model = bn_spec();
    c.epochs = 2;
    c.batch_size = 16;
    c.optimizer.lr = 0.2f;
    c.seed = 7;
    c.db_path = "-";
    c.device = "cpu";
    c.ledger = false;
    c.precise_bn = precise;
    PrepareOptions po;
    po.record = false;
    auto r = prepare_run(c, po);
    Trainer t(r);
    t.start();
    while (true) {
      auto e = t.events().wait_pop(20000ms);
      if (!e) {
        ADD_FAILURE() << "no event within 20 s";
        break;
      }
      if (auto* b = std::get_if<BatchEnd>(&*e)) losses.push_back(b->loss);
      if (auto* end = std::get_if<TrainEnd>(&*e)) {
        EXPECT_EQ(end->reason, EndReason::Done) << end->message;
        break;
      }
    }
    t.wait();
    return r;
  };
  std::vector<double> on_losses, off_losses;
  auto on = run(2048, on_losses), off = run(0, off_losses);
  ASSERT_FALSE(on_losses.empty());
  EXPECT_EQ(on_losses, off_losses);  // training is untouched
  EXPECT_EQ(param(*on->model, "conv.weight"), param(*off->model, "conv.weight"));

  const std::vector<float> stored = param(*on->model, "bn.running_mean"), stale = param(*off->model, "bn.running_mean");
  PreciseBnOptions o;
  o.batch_size = 16;
  o.seed = 7;
  o.epoch = 1;  // the last epoch's validation
  o.norm = on->data->tv.norm;
  const std::vector<int64_t> subset = precise_bn_subset(on->data->tv.train_indices, o);
  EXPECT_EQ(subset.size(), 24u);  // a quarter of the 96 training images
  set_param(*on->model, "bn.running_mean", 99.f);
  EXPECT_EQ(reestimate_batchnorm(*on->model, on->data->tv.train_data, subset, o), 24);
  const std::vector<float> again = param(*on->model, "bn.running_mean");
  double stale_diff = 0;
  for (size_t c = 0; c < stored.size(); ++c) {
    EXPECT_NEAR(again[c], stored[c], 1e-5) << "channel " << c;
    stale_diff = std::max(stale_diff, double(std::abs(stale[c] - stored[c])));
  }
  EXPECT_GT(stale_diff, 1e-3);  // without it the statistics are the lagging ones
  std::filesystem::remove_all(dir);
}
