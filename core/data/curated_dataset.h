#pragma once
// A dataset version (core/curate) applied on top of an opened dataset,
// without touching its files: some samples relabelled, some left out.
// Index i of the view is sample base_index(i) of the base dataset.
//
// Splits of a view are made on the base (make_split unwraps it) and then
// drop the excluded samples, so an image stays on the same side of the
// train/validation split in every version of the dataset.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace perceptra {

class CuratedDataset : public Dataset {
 public:
  // labels[b] is the label of base sample b in this version, -1 when it is
  // excluded (labels.size() == base->size(); InputError for a label outside
  // the base's classes).
  CuratedDataset(std::shared_ptr<const Dataset> base, std::vector<int> labels);

  int64_t size() const override { return int64_t(kept_.size()); }
  Shape sample_shape() const override { return base_->sample_shape(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  int label(int64_t i) const override { return labels_[size_t(base_index(i))]; }
  void image(int64_t i, float* out) const override { base_->image(base_index(i), out); }
  std::string source() const override { return base_->source(); }
  const uint8_t* pixels_u8(int64_t i) const override { return base_->pixels_u8(base_index(i)); }

  const std::shared_ptr<const Dataset>& base() const { return base_; }
  int64_t base_index(int64_t i) const { return kept_.at(size_t(i)); }
  // The view's index of base sample b, -1 when it is excluded.
  int64_t view_index(int64_t b) const { return view_.at(size_t(b)); }
  int64_t excluded() const { return base_->size() - size(); }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<int> labels_;    // per base sample
  std::vector<int64_t> kept_;  // view -> base
  std::vector<int64_t> view_;  // base -> view or -1
};

// The dataset under any number of curated views (itself when not a view),
// and base sample index of its sample i.
const Dataset& uncurated(const Dataset& d);
int64_t uncurated_index(const Dataset& d, int64_t i);

}  // namespace perceptra
