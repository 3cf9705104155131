#pragma once
// Per-channel normalisation statistics. Computed on the training split only
// and applied identically to validation/test and at inference; a value type
// the model file stores next to the weights.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/data/dataset.h"

namespace perceptra {

struct NormStats {
  std::vector<float> mean;  // one per channel, of pixel values in [0,1]
  std::vector<float> std;   // population standard deviation, > 0

  bool empty() const { return mean.empty(); }
  int channels() const { return static_cast<int>(mean.size()); }
  // Identity (mean 0, std 1) for `channels` channels.
  static NormStats identity(int channels);
  // x -> (x - mean[c]) / std[c] in place, for one [C,H,W] image.
  void apply(float* image, int64_t channels, int64_t plane) const;
  // Undo, e.g. to show an augmented image.
  void unapply(float* image, int64_t channels, int64_t plane) const;

  nlohmann::json to_json() const;
  static NormStats from_json(const nlohmann::json& j);  // throws InputError
  bool operator==(const NormStats& o) const { return mean == o.mean && std == o.std; }
};

// Samples the statistics of decoded-on-demand data (image folders) read by
// default: per-channel mean/std of a few hundred photos are stable to ~0.01,
// and reading every photo before the first epoch would decode the folder twice.
constexpr int64_t kOnDemandStatSamples = 512;

// Statistics over the listed samples (all when `indices` is empty). With
// max_samples > 0, an evenly spaced subset of that many samples is used.
NormStats compute_norm_stats(const Dataset& data, const std::vector<int64_t>& indices = {}, int64_t max_samples = 0);

}  // namespace perceptra
