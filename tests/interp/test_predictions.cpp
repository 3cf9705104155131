#include <gtest/gtest.h>

#include <atomic>
#include <cmath>

#include "core/data/memory_dataset.h"
#include "core/interp/predictions.h"
#include "core/tensor/error.h"
#include "tests/interp/test_util.h"

using namespace perceptra;
using nlohmann::json;

// A linear head with zero weights: the logits are its bias whatever the
// input, so it always predicts class 0 with probabilities 0.6, 0.1, 0.3.
static std::unique_ptr<Model> constant_model() {
  json spec = {{"input", {1, 2, 2}},
               {"classes", 3},
               {"layers", {{{"type", "flatten"}}, {{"type", "linear"}, {"out_features", 3}}}}};
  auto m = test::build(spec);
  test::set_param(*m, 1, 0, std::vector<float>(12, 0.f));
  test::set_param(*m, 1, 1, {std::log(0.6f), std::log(0.1f), std::log(0.3f)});
  return m;
}

// Labels 0 1 2 0 1 2 1 (7 items); pixels differ per item but do not matter.
static MemoryDataset constant_data() {
  std::vector<uint8_t> px(7 * 4);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 9);
  return MemoryDataset("mem", Shape{1, 2, 2}, {"zero", "one", "two"}, px, {0, 1, 2, 0, 1, 2, 1});
}

TEST(Predictions, ConstantPredictorConfusionMatrix) {
  auto m = constant_model();
  MemoryDataset data = constant_data();
  PredictOptions o;
  o.batch_size = 3;  // batches of 3, 3, 1
  int64_t last_done = 0, calls = 0;
  o.progress = [&](int64_t done, int64_t total) {
    EXPECT_EQ(total, 7);
    last_done = done;
    ++calls;
  };
  PredictionSet p = predict_dataset(*m, data, NormStats::identity(1), o);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(last_done, 7);
  ASSERT_EQ(p.size(), 7);
  EXPECT_EQ(p.class_names[2], "two");
  for (int64_t i = 0; i < 7; ++i) {
    EXPECT_EQ(p.index[i], i);
    EXPECT_EQ(p.predicted[i], 0);
    EXPECT_NEAR(p.prob(i, 0), 0.6f, 1e-6);
    EXPECT_NEAR(p.prob(i, 1), 0.1f, 1e-6);
  }
  Confusion c = p.confusion();
  std::vector<int64_t> want = {2, 0, 0, 3, 0, 0, 2, 0, 0};
  EXPECT_EQ(c.counts(), want);
  std::vector<double> rn = c.row_normalized();
  EXPECT_EQ(rn[0], 1.0);
  EXPECT_EQ(rn[3], 1.0);
  EXPECT_EQ(rn[4], 0.0);
  EXPECT_NEAR(p.accuracy(), 2.0 / 7, 1e-12);
  EXPECT_NEAR(p.mean_loss(), -(2 * std::log(0.6) + 3 * std::log(0.1) + 2 * std::log(0.3)) / 7, 1e-5);
  ClassMetrics m0 = c.metrics(0);
  EXPECT_NEAR(m0.precision, 2.0 / 7, 1e-12);
  EXPECT_EQ(m0.recall, 1.0);
  EXPECT_EQ(c.metrics(1).f1, 0.0);
  EXPECT_NEAR(c.macro().recall, 1.0 / 3, 1e-12);
}

TEST(Predictions, TopLossesOrderAndValues) {
  auto m = constant_model();
  MemoryDataset data = constant_data();
  PredictionSet p = predict_dataset(*m, data, NormStats{});
  // Wrong items: label 1 (p=0.1, loss 2.303) at 1, 4, 6, then label 2 (p=0.3) at 2, 5.
  std::vector<LossItem> top = top_losses(p, 0);
  ASSERT_EQ(top.size(), 5u);
  std::vector<int64_t> order;
  for (const LossItem& it : top) order.push_back(it.dataset_index);
  EXPECT_EQ(order, (std::vector<int64_t>{1, 4, 6, 2, 5}));
  EXPECT_NEAR(top[0].loss, -std::log(0.1), 1e-5);
  EXPECT_NEAR(top[0].prob_label, 0.1f, 1e-6);
  EXPECT_NEAR(top[0].prob_predicted, 0.6f, 1e-6);
  EXPECT_EQ(top[0].label, 1);
  EXPECT_EQ(top[0].predicted, 0);
  EXPECT_NEAR(top[3].loss, -std::log(0.3), 1e-5);
  EXPECT_EQ(top_losses(p, 2).size(), 2u);
  // Including correct items puts them last (lowest loss).
  std::vector<LossItem> all = top_losses(p, 0, true);
  ASSERT_EQ(all.size(), 7u);
  EXPECT_EQ(all[5].dataset_index, 0);
  EXPECT_EQ(all[6].dataset_index, 3);
  EXPECT_NEAR(all[6].loss, -std::log(0.6), 1e-5);
}

TEST(Predictions, MostConfusedAndCellItems) {
  auto m = constant_model();
  MemoryDataset data = constant_data();
  PredictionSet p = predict_dataset(*m, data, NormStats{});
  std::vector<ConfusedPair> mc = most_confused(p.confusion());
  ASSERT_EQ(mc.size(), 2u);
  EXPECT_EQ(mc[0].actual, 1);
  EXPECT_EQ(mc[0].predicted, 0);
  EXPECT_EQ(mc[0].count, 3);
  EXPECT_EQ(mc[1].actual, 2);
  EXPECT_EQ(mc[1].count, 2);
  EXPECT_EQ(most_confused(p.confusion(), 3).size(), 1u);

  std::vector<LossItem> cell = cell_items(p, 2, 0);
  ASSERT_EQ(cell.size(), 2u);
  EXPECT_EQ(cell[0].dataset_index, 2);
  EXPECT_EQ(cell[1].dataset_index, 5);
  EXPECT_EQ(cell_items(p, 0, 0).size(), 2u);
  EXPECT_TRUE(cell_items(p, 0, 1).empty());
  EXPECT_THROW(cell_items(p, 3, 0), InputError);

  // Ties in count are ordered by true class, then predicted class.
  Confusion c(3);
  c.add(2, 1, 4);
  c.add(0, 2, 4);
  c.add(1, 0, 5);
  c.add(0, 0, 9);
  mc = most_confused(c);
  ASSERT_EQ(mc.size(), 3u);
  EXPECT_EQ(mc[0].actual, 1);
  EXPECT_EQ(mc[1].actual, 0);
  EXPECT_EQ(mc[1].predicted, 2);
  EXPECT_EQ(mc[2].actual, 2);
}

TEST(Predictions, SubsetCancelAndMismatch) {
  auto m = constant_model();
  MemoryDataset data = constant_data();
  PredictOptions o;
  o.indices = {6, 2};
  PredictionSet p = predict_dataset(*m, data, NormStats{}, o);
  ASSERT_EQ(p.size(), 2);
  EXPECT_EQ(p.index[0], 6);
  EXPECT_EQ(p.label[0], 1);
  EXPECT_EQ(p.index[1], 2);
  EXPECT_EQ(cell_items(p, 1, 0)[0].position, 0);

  std::atomic<bool> cancel{false};
  o.indices.clear();
  o.batch_size = 2;
  o.cancel = &cancel;
  o.progress = [&](int64_t done, int64_t) {
    if (done >= 4) cancel = true;
  };
  EXPECT_EQ(predict_dataset(*m, data, NormStats{}, o).size(), 4);

  MemoryDataset two("two", Shape{1, 2, 2}, {"a", "b"}, std::vector<uint8_t>(4), {0});
  EXPECT_THROW(predict_dataset(*m, two, NormStats{}), InputError);
  MemoryDataset big("big", Shape{1, 3, 3}, {"a", "b", "c"}, std::vector<uint8_t>(9), {0});
  EXPECT_THROW(predict_dataset(*m, big, NormStats{}), InputError);
}

TEST(Predictions, FromLogitsIsStable) {
  PredictionSet p = predictions_from_logits({1000.f, 0.f, 0.f, 1000.f, 2.f, 2.f}, 2, {1, 1, 0}, {10, 11, 12});
  ASSERT_EQ(p.size(), 3);
  EXPECT_NEAR(p.loss[0], 1000.f, 1e-3);  // no overflow to inf
  EXPECT_NEAR(p.loss[1], 0.f, 1e-6);
  EXPECT_NEAR(p.loss[2], std::log(2.f), 1e-6);
  EXPECT_EQ(p.predicted[2], 0);  // tie: lowest index
  EXPECT_EQ(p.index[2], 12);
  EXPECT_EQ(top_losses(p)[0].dataset_index, 10);
  EXPECT_THROW(predictions_from_logits({1.f, 2.f}, 2, {0, 1}), InputError);
  EXPECT_THROW(predictions_from_logits({1.f, 2.f}, 2, {5}), InputError);
}
