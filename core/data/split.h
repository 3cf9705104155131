#pragma once
// Train/validation splits: by percentage with a seed (default 20 %, like
// fastai's valid_pct), optionally stratified by class, or the dataset's own
// test split. Reproducible from (kind, valid_pct, seed) and recordable as
// index lists.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/data/dataset.h"
#include "core/data/normalize.h"

namespace perceptra {

struct DataSource;

struct SplitOptions {
  double valid_pct = 0.2;  // fraction of the training set held out, in (0, 1)
  uint64_t seed = 0;
  bool stratified = false;     // same fraction from every class
  bool official_test = false;  // validate on the dataset's own test set instead
};

struct Split {
  std::string kind = "random";  // "random", "stratified" or "official"
  double valid_pct = 0.2;
  uint64_t seed = 0;
  std::vector<int64_t> train;  // indices into the training dataset, ascending
  std::vector<int64_t> valid;  // into the training dataset, or the test set for "official"

  nlohmann::json to_json(bool with_indices = true) const;
  static Split from_json(const nlohmann::json& j);  // throws InputError
};

// Percentage split of one dataset (options.official_test is ignored here).
Split make_split(const Dataset& data, const SplitOptions& options);

// What the trainer consumes: datasets + index lists for both sides and the
// normalisation statistics of the training side only.
struct TrainValid {
  std::shared_ptr<const Dataset> train_data;
  std::vector<int64_t> train_indices;
  std::shared_ptr<const Dataset> valid_data;
  std::vector<int64_t> valid_indices;
  Split split;
  NormStats norm;
};
// Throws InputError when official_test is asked of data without a test set.
// max_stat_samples > 0 caps the samples used for the statistics (and
// decoded-on-demand data uses at most kOnDemandStatSamples).
TrainValid prepare_train_valid(const DataSource& source, const SplitOptions& options, int64_t max_stat_samples = 0);

// A view of some samples of another dataset (index i -> base[indices[i]]).
class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices);
  int64_t size() const override { return int64_t(indices_.size()); }
  Shape sample_shape() const override { return base_->sample_shape(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  int label(int64_t i) const override { return base_->label(base_index(i)); }
  void image(int64_t i, float* out) const override { base_->image(base_index(i), out); }
  std::string source() const override { return base_->source(); }
  const uint8_t* pixels_u8(int64_t i) const override { return base_->pixels_u8(base_index(i)); }
  int64_t base_index(int64_t i) const { return indices_.at(size_t(i)); }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int64_t> indices_;
};

}  // namespace perceptra
