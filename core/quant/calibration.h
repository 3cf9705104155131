#pragma once
// Activation range calibration: which |value| becomes the largest int8 level
// of a tensor, from the values it takes on calibration images.
//   minmax:     the largest |value| seen (nothing clips, coarse steps)
//   percentile: the 99.99th percentile of |value| (clips rare outliers)
//   entropy:    the threshold whose quantised histogram is closest to the
//               float one in KL divergence (TensorRT's calibrator)
// Two passes over the same images: observe_range() first, then
// observe_histogram() with the range fixed.
#include <cstdint>
#include <string>
#include <vector>

namespace perceptra::quant {

enum class CalibrationMethod { MinMax, Percentile, Entropy };
CalibrationMethod parse_calibration_method(const std::string& name);  // InputError if unknown
std::string calibration_method_name(CalibrationMethod m);

class RangeObserver {
 public:
  // 8192 bins: the entropy search needs at least `levels` bins below the
  // threshold, so it can clip at most to levels/8192 of the largest value.
  static constexpr int kBins = 8192;
  void observe_range(const float* x, size_t n);
  void observe_histogram(const float* x, size_t n);
  bool seen() const { return count_ > 0; }
  bool has_negative() const { return min_ < 0; }
  float abs_max() const { return abs_max_; }
  // Threshold for the method; levels: 255 (u8) or 127 (s8).
  float threshold(CalibrationMethod m, int levels) const;

 private:
  float min_ = 0, abs_max_ = 0;
  uint64_t count_ = 0;
  std::vector<double> hist_;  // of |x| over [0, abs_max_]
};

// The KL-divergence threshold bin count for a histogram (exposed for tests).
int entropy_threshold_bins(const std::vector<double>& hist, int levels);

}  // namespace perceptra::quant
