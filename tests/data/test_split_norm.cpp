#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/data/memory_dataset.h"
#include "core/data/resolve.h"
#include "core/data/split.h"
#include "core/tensor/error.h"
#include "core/data/class_names.h"
#include "tests/data/data_fixtures.h"

using namespace perceptra;

namespace {
// n samples of [C,2,2]; sample i has all pixels of channel c = (i + 50c) % 256
// and label i % classes.
std::shared_ptr<MemoryDataset> toy(int n, int classes, int channels = 1) {
  std::vector<uint8_t> px;
  std::vector<int32_t> labels;
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < channels; ++c)
      for (int k = 0; k < 4; ++k) px.push_back(uint8_t((i + 50 * c) % 256));
    labels.push_back(i % classes);
  }
  return std::make_shared<MemoryDataset>("toy", Shape{channels, 2, 2}, numbered_class_names(classes), px, labels);
}
}  // namespace

TEST(Split, PercentIsReproducibleAndDisjoint) {
  auto d = toy(1000, 10);
  SplitOptions o;
  o.seed = 42;
  Split a = make_split(*d, o), b = make_split(*d, o);
  EXPECT_EQ(a.train, b.train);
  EXPECT_EQ(a.valid, b.valid);
  EXPECT_EQ(a.valid.size(), 200u);  // default 20 %
  EXPECT_EQ(a.train.size(), 800u);
  std::set<int64_t> all(a.train.begin(), a.train.end());
  for (int64_t v : a.valid) EXPECT_TRUE(all.insert(v).second) << "overlap at " << v;
  EXPECT_EQ(all.size(), 1000u);
  o.seed = 43;
  EXPECT_NE(make_split(*d, o).valid, a.valid);
}

TEST(Split, StratifiedKeepsClassProportions) {
  auto d = toy(1000, 10);
  SplitOptions o;
  o.stratified = true;
  o.valid_pct = 0.3;
  Split s = make_split(*d, o);
  EXPECT_EQ(s.kind, "stratified");
  std::vector<int> per(10, 0);
  for (int64_t v : s.valid) ++per[size_t(d->label(v))];
  for (int c : per) EXPECT_EQ(c, 30);
}

TEST(Split, RecordRoundTripsThroughJson) {
  auto d = toy(50, 5);
  SplitOptions o;
  o.seed = 7;
  Split s = make_split(*d, o);
  Split back = Split::from_json(s.to_json());
  EXPECT_EQ(back.train, s.train);
  EXPECT_EQ(back.valid, s.valid);
  EXPECT_EQ(back.seed, 7u);
  EXPECT_EQ(back.kind, "random");
  EXPECT_THROW(Split::from_json(nlohmann::json{{"kind", "bogus"}}), InputError);
}

TEST(Split, RejectsBadFraction) {
  auto d = toy(10, 2);
  SplitOptions o;
  o.valid_pct = 1.5;
  EXPECT_THROW(make_split(*d, o), InputError);
  o.valid_pct = 0.0;
  EXPECT_THROW(make_split(*d, o), InputError);
}

TEST(Norm, StatsComeFromTrainingIndicesOnly) {
  auto d = toy(200, 2, 2);
  std::vector<int64_t> first_half;
  for (int i = 0; i < 100; ++i) first_half.push_back(i);
  NormStats s = compute_norm_stats(*d, first_half);
  ASSERT_EQ(s.channels(), 2);
  // Channel 0 holds values 0..99 (/255): mean 49.5/255.
  EXPECT_NEAR(s.mean[0], 49.5 / 255.0, 1e-5);
  EXPECT_NEAR(s.std[0], std::sqrt((100.0 * 100.0 - 1.0) / 12.0) / 255.0, 1e-5);
  EXPECT_NEAR(s.mean[1], 99.5 / 255.0, 1e-5);
  NormStats all = compute_norm_stats(*d);
  EXPECT_GT(all.mean[0], s.mean[0] + 0.1f);
  NormStats back = NormStats::from_json(s.to_json());
  EXPECT_EQ(back, s);
  EXPECT_THROW(NormStats::from_json(nlohmann::json{{"mean", {0.5}}, {"std", {0.0}}}), InputError);
}

TEST(Norm, PrepareTrainValidUsesTrainSideStats) {
  DataSource src;
  src.name = "toy";
  src.train = toy(300, 3);
  SplitOptions o;
  o.seed = 1;
  TrainValid tv = prepare_train_valid(src, o);
  EXPECT_EQ(tv.norm, compute_norm_stats(*src.train, tv.train_indices));
  EXPECT_EQ(tv.valid_data, src.train);
  EXPECT_EQ(tv.valid_indices.size(), 60u);
  o.official_test = true;
  EXPECT_INPUT_ERROR(prepare_train_valid(src, o), "toy", "no official test split");
  src.test = toy(30, 3);
  tv = prepare_train_valid(src, o);
  EXPECT_EQ(tv.split.kind, "official");
  EXPECT_EQ(tv.valid_data, src.test);
  EXPECT_EQ(tv.valid_indices.size(), 30u);
  EXPECT_EQ(tv.train_indices.size(), 300u);
  EXPECT_EQ(tv.norm, compute_norm_stats(*src.train));
}

TEST(Subset, MapsIndices) {
  auto d = toy(10, 2);
  SubsetDataset s(d, {9, 3});
  EXPECT_EQ(s.size(), 2);
  EXPECT_EQ(s.label(0), 1);
  EXPECT_EQ(s.pixels_u8(1)[0], 3);
  EXPECT_THROW(SubsetDataset(d, {10}), Error);
}
