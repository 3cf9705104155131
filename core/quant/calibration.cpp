#include "core/quant/calibration.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/tensor/error.h"

namespace perceptra::quant {

CalibrationMethod parse_calibration_method(const std::string& name) {
  if (name == "minmax") return CalibrationMethod::MinMax;
  if (name == "percentile") return CalibrationMethod::Percentile;
  if (name == "entropy") return CalibrationMethod::Entropy;
  throw InputError("calibration method", "'" + name + "' is not one of minmax, percentile, entropy");
}

std::string calibration_method_name(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::MinMax:
      return "minmax";
    case CalibrationMethod::Percentile:
      return "percentile";
    case CalibrationMethod::Entropy:
      return "entropy";
  }
  return "?";
}

void RangeObserver::observe_range(const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    min_ = std::min(min_, x[i]);
    abs_max_ = std::max(abs_max_, std::fabs(x[i]));
  }
  count_ += n;
}

void RangeObserver::observe_histogram(const float* x, size_t n) {
  if (hist_.empty()) hist_.assign(kBins, 0.0);
  if (!(abs_max_ > 0)) return;
  const float per_bin = float(kBins) / abs_max_;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    int b = int(std::fabs(x[i]) * per_bin);
    hist_[size_t(std::min(b, kBins - 1))] += 1;
  }
}

int entropy_threshold_bins(const std::vector<double>& hist, int levels) {
  const int bins = int(hist.size());
  if (bins <= levels) return bins;
  // Zero is its own level and dominates post-ReLU tensors; like TensorRT,
  // leave bin 0 out of the divergence.
  double best = std::numeric_limits<double>::infinity();
  int best_i = bins;
  std::vector<double> p, q;
  for (int i = levels; i <= bins; i += 16) {
    p.assign(hist.begin(), hist.begin() + i);
    double outliers = 0;
    for (int j = i; j < bins; ++j) outliers += hist[size_t(j)];
    p[size_t(i - 1)] += outliers;
    p[0] = 0;
    // Merge p into `levels` bins, then spread each back over its non-empty bins.
    q.assign(size_t(i), 0.0);
    const double step = double(i) / levels;
    for (int l = 0; l < levels; ++l) {
      const int a = int(std::floor(l * step)), b = std::max(a + 1, int(std::floor((l + 1) * step)));
      double sum = 0;
      int nonzero = 0;
      for (int j = a; j < b && j < i; ++j) {
        sum += p[size_t(j)];
        if (p[size_t(j)] > 0) ++nonzero;
      }
      for (int j = a; j < b && j < i; ++j)
        if (p[size_t(j)] > 0) q[size_t(j)] = sum / nonzero;
    }
    double ps = 0, qs = 0;
    for (int j = 0; j < i; ++j) {
      ps += p[size_t(j)];
      qs += q[size_t(j)];
    }
    if (ps <= 0 || qs <= 0) continue;
    double kl = 0;
    for (int j = 0; j < i; ++j)
      if (p[size_t(j)] > 0) kl += p[size_t(j)] / ps * std::log((p[size_t(j)] / ps) / (q[size_t(j)] / qs));
    if (kl < best) {
      best = kl;
      best_i = i;
    }
  }
  return best_i;
}

float RangeObserver::threshold(CalibrationMethod m, int levels) const {
  if (!(abs_max_ > 0)) return 0.f;
  if (m == CalibrationMethod::MinMax || hist_.empty()) return abs_max_;
  const float bin_width = abs_max_ / kBins;
  if (m == CalibrationMethod::Percentile) {
    double total = 0;
    for (double h : hist_) total += h;
    const double keep = total * 0.9999;
    double acc = 0;
    for (int b = 0; b < kBins; ++b) {
      acc += hist_[size_t(b)];
      if (acc >= keep) return bin_width * float(b + 1);
    }
    return abs_max_;
  }
  return bin_width * float(entropy_threshold_bins(hist_, levels));
}

}  // namespace perceptra::quant
