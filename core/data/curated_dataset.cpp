#include "core/data/curated_dataset.h"

#include "core/tensor/error.h"

namespace perceptra {

CuratedDataset::CuratedDataset(std::shared_ptr<const Dataset> base, std::vector<int> labels)
    : base_(std::move(base)), labels_(std::move(labels)) {
  PCHECK(base_ != nullptr, "CuratedDataset: no base dataset");
  if (int64_t(labels_.size()) != base_->size())
    throw InputError(base_->source(), "dataset version has " + std::to_string(labels_.size()) + " labels for " +
                                          std::to_string(base_->size()) + " images");
  const int classes = base_->num_classes();
  view_.assign(labels_.size(), -1);
  for (size_t b = 0; b < labels_.size(); ++b) {
    if (labels_[b] < 0) continue;
    if (labels_[b] >= classes)
      throw InputError(base_->source(), "dataset version gives image " + std::to_string(b) + " class " +
                                            std::to_string(labels_[b]) + " of " + std::to_string(classes));
    view_[b] = int64_t(kept_.size());
    kept_.push_back(int64_t(b));
  }
}

const Dataset& uncurated(const Dataset& d) {
  const Dataset* p = &d;
  while (auto* c = dynamic_cast<const CuratedDataset*>(p)) p = c->base().get();
  return *p;
}

int64_t uncurated_index(const Dataset& d, int64_t i) {
  const Dataset* p = &d;
  while (auto* c = dynamic_cast<const CuratedDataset*>(p)) {
    i = c->base_index(i);
    p = c->base().get();
  }
  return i;
}

}  // namespace perceptra
