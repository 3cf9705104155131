#include "core/train/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/tensor/error.h"

namespace perceptra {

int argmax(const float* scores, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (scores[i] > scores[best]) best = i;
  return best;
}

ClassificationMetrics::ClassificationMetrics(int num_classes, int top_k)
    : classes_(num_classes), k_(std::clamp(top_k, 1, std::max(1, num_classes))) {
  PCHECK(num_classes > 0, "ClassificationMetrics: num_classes must be positive");
  cm_.assign(static_cast<size_t>(classes_) * classes_, 0);
}

void ClassificationMetrics::reset() {
  count_ = correct_ = topk_correct_ = 0;
  loss_sum_ = 0;
  std::fill(cm_.begin(), cm_.end(), 0);
}

void ClassificationMetrics::add(const float* scores, const float* labels, const float* losses, int n) {
  for (int i = 0; i < n; ++i) {
    const float* row = scores + static_cast<size_t>(i) * classes_;
    int t = static_cast<int>(std::lround(labels[i]));
    PCHECK(t >= 0 && t < classes_, "ClassificationMetrics: label out of range");
    int p = argmax(row, classes_);
    cm_[static_cast<size_t>(t) * classes_ + p]++;
    if (p == t) ++correct_;
    // Top-k: the true class is among the k best when fewer than k classes
    // score strictly higher (ties resolved in its favour, as torch.topk is
    // unspecified on ties).
    int higher = 0;
    for (int c = 0; c < classes_; ++c) higher += row[c] > row[t];
    if (higher < k_) ++topk_correct_;
    if (losses) loss_sum_ += losses[i];
    ++count_;
  }
}

std::vector<std::vector<int64_t>> ClassificationMetrics::confusion() const {
  std::vector<std::vector<int64_t>> out(classes_, std::vector<int64_t>(classes_));
  for (int t = 0; t < classes_; ++t)
    for (int p = 0; p < classes_; ++p) out[t][p] = cm_[static_cast<size_t>(t) * classes_ + p];
  return out;
}

std::vector<double> ClassificationMetrics::precision() const {
  std::vector<double> out(classes_, 0.0);
  for (int p = 0; p < classes_; ++p) {
    int64_t col = 0;
    for (int t = 0; t < classes_; ++t) col += cm_[static_cast<size_t>(t) * classes_ + p];
    if (col) out[p] = static_cast<double>(cm_[static_cast<size_t>(p) * classes_ + p]) / col;
  }
  return out;
}

std::vector<double> ClassificationMetrics::recall() const {
  std::vector<double> out(classes_, 0.0);
  for (int t = 0; t < classes_; ++t) {
    int64_t row = 0;
    for (int p = 0; p < classes_; ++p) row += cm_[static_cast<size_t>(t) * classes_ + p];
    if (row) out[t] = static_cast<double>(cm_[static_cast<size_t>(t) * classes_ + t]) / row;
  }
  return out;
}

std::vector<double> ClassificationMetrics::f1() const {
  auto p = precision(), r = recall();
  std::vector<double> out(classes_, 0.0);
  for (int c = 0; c < classes_; ++c)
    if (p[c] + r[c] > 0) out[c] = 2 * p[c] * r[c] / (p[c] + r[c]);
  return out;
}

}  // namespace perceptra
