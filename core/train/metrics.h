#pragma once
// Classification metrics accumulated batch by batch from host-side
// probabilities (or logits: only their order matters) and labels: loss,
// accuracy, error rate, top-k accuracy, confusion matrix, per-class
// precision/recall/F1 (0 where undefined, as scikit-learn's zero_division=0).
#include <cstdint>
#include <vector>

namespace perceptra {

class ClassificationMetrics {
 public:
  ClassificationMetrics(int num_classes, int top_k);
  // scores: [n, C] row-major; labels: n integral values; losses: per-sample
  // loss (may be null when loss is not tracked).
  void add(const float* scores, const float* labels, const float* losses, int n);
  void reset();

  int num_classes() const { return classes_; }
  int top_k() const { return k_; }
  int64_t count() const { return count_; }
  double mean_loss() const { return count_ ? loss_sum_ / count_ : 0.0; }
  double accuracy() const { return count_ ? static_cast<double>(correct_) / count_ : 0.0; }
  double error_rate() const { return count_ ? 1.0 - accuracy() : 0.0; }
  double top_k_accuracy() const { return count_ ? static_cast<double>(topk_correct_) / count_ : 0.0; }
  // confusion()[t][p]: samples of true class t predicted as p.
  std::vector<std::vector<int64_t>> confusion() const;
  std::vector<double> precision() const;
  std::vector<double> recall() const;
  std::vector<double> f1() const;

 private:
  int classes_, k_;
  int64_t count_ = 0, correct_ = 0, topk_correct_ = 0;
  double loss_sum_ = 0;
  std::vector<int64_t> cm_;  // classes_ x classes_
};

// Index of the largest score (first on ties).
int argmax(const float* scores, int n);

}  // namespace perceptra
