#include "core/data/split.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/data/curated_dataset.h"
#include "core/data/resolve.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"

namespace perceptra {

namespace {

void shuffle(std::vector<int64_t>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[size_t(rng.below(i))]);
}

// Number held out of n: rounded, but at least one sample stays on each side
// whenever n >= 2.
int64_t held_out(int64_t n, double pct) {
  int64_t k = int64_t(std::llround(double(n) * pct));
  if (n >= 2) k = std::clamp<int64_t>(k, 1, n - 1);
  return std::clamp<int64_t>(k, 0, n);
}

}  // namespace

Split make_split(const Dataset& data, const SplitOptions& o) {
  // A dataset version is split like its base, minus its excluded samples:
  // every image keeps its side of the split across versions.
  if (auto* view = dynamic_cast<const CuratedDataset*>(&data)) {
    Split s = make_split(*view->base(), o);
    auto keep = [&](std::vector<int64_t>& v) {
      size_t k = 0;
      for (int64_t b : v)
        if (int64_t i = view->view_index(b); i >= 0) v[k++] = i;
      v.resize(k);
    };
    keep(s.train);
    keep(s.valid);
    return s;
  }
  if (!(o.valid_pct > 0.0 && o.valid_pct < 1.0))
    throw InputError("split",
                     "validation fraction must be between 0 and 1 (exclusive), got " + std::to_string(o.valid_pct));
  Split s;
  s.kind = o.stratified ? "stratified" : "random";
  s.valid_pct = o.valid_pct;
  s.seed = o.seed;
  const int64_t n = data.size();
  if (n < 2) throw InputError(data.source(), "too few samples to split (" + std::to_string(n) + ")");
  Rng rng(o.seed);
  if (!o.stratified) {
    std::vector<int64_t> all(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) all[size_t(i)] = i;
    shuffle(all, rng);
    int64_t k = held_out(n, o.valid_pct);
    s.valid.assign(all.begin(), all.begin() + k);
    s.train.assign(all.begin() + k, all.end());
  } else {
    std::vector<std::vector<int64_t>> by_class(size_t(std::max(1, data.num_classes())));
    for (int64_t i = 0; i < n; ++i) by_class.at(size_t(data.label(i))).push_back(i);
    for (size_t c = 0; c < by_class.size(); ++c) {
      auto& v = by_class[c];
      Rng r = rng.fork(c);  // per-class stream: adding a class does not reshuffle others
      shuffle(v, r);
      int64_t k = held_out(int64_t(v.size()), o.valid_pct);
      s.valid.insert(s.valid.end(), v.begin(), v.begin() + k);
      s.train.insert(s.train.end(), v.begin() + k, v.end());
    }
  }
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.valid.begin(), s.valid.end());
  return s;
}

nlohmann::json Split::to_json(bool with_indices) const {
  nlohmann::json j = {{"kind", kind},
                      {"valid_pct", valid_pct},
                      {"seed", seed},
                      {"train_size", train.size()},
                      {"valid_size", valid.size()}};
  if (with_indices) {
    j["train"] = train;
    j["valid"] = valid;
  }
  return j;
}

Split Split::from_json(const nlohmann::json& j) {
  Split s;
  try {
    s.kind = j.at("kind").get<std::string>();
    s.valid_pct = j.value("valid_pct", 0.2);
    s.seed = j.value("seed", uint64_t(0));
    if (j.contains("train")) s.train = j.at("train").get<std::vector<int64_t>>();
    if (j.contains("valid")) s.valid = j.at("valid").get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError("split", std::string("malformed split record: ") + e.what());
  }
  if (s.kind != "random" && s.kind != "stratified" && s.kind != "official")
    throw InputError("split", "unknown split kind '" + s.kind + "'");
  return s;
}

SubsetDataset::SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  PCHECK(base_ != nullptr, "SubsetDataset: null base dataset");
  for (int64_t i : indices_)
    PCHECK(i >= 0 && i < base_->size(), "SubsetDataset: index " + std::to_string(i) + " out of range for " +
                                            std::to_string(base_->size()) + " samples");
}

TrainValid prepare_train_valid(const DataSource& src, const SplitOptions& o, int64_t max_stat_samples) {
  PCHECK(src.train != nullptr, "prepare_train_valid: data source has no training set");
  TrainValid tv;
  tv.train_data = src.train;
  if (o.official_test) {
    if (!src.test) throw InputError(src.name, "has no official test split; use a percentage split instead");
    tv.split.kind = "official";
    tv.split.valid_pct = 0.0;
    tv.split.seed = o.seed;
    tv.split.train.resize(size_t(src.train->size()));
    for (int64_t i = 0; i < src.train->size(); ++i) tv.split.train[size_t(i)] = i;
    tv.split.valid.resize(size_t(src.test->size()));
    for (int64_t i = 0; i < src.test->size(); ++i) tv.split.valid[size_t(i)] = i;
    tv.valid_data = src.test;
  } else {
    tv.split = make_split(*src.train, o);
    tv.valid_data = src.train;
  }
  tv.train_indices = tv.split.train;
  tv.valid_indices = tv.split.valid;
  // Decoded-on-demand data (photos): a bounded sample, so opening does not
  // decode the whole folder before the first epoch does.
  if (tv.train_data->size() > 0 && tv.train_data->pixels_u8(0) == nullptr)
    max_stat_samples = max_stat_samples > 0 ? std::min(max_stat_samples, kOnDemandStatSamples) : kOnDemandStatSamples;
  tv.norm = compute_norm_stats(*tv.train_data, tv.train_indices, max_stat_samples);
  return tv;
}

}  // namespace perceptra
