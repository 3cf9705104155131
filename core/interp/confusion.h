#pragma once
// Confusion matrix and the per-class metrics derived from it. Standard
// library only, so the trainer (per-epoch matrix) and the GUI can use it
// without pulling in the model or data code.
#include <cstdint>
#include <vector>

namespace perceptra {

struct ClassMetrics {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;  // items whose true class is this one
};

// Rows are the true class, columns the predicted class.
class Confusion {
 public:
  explicit Confusion(int classes = 0);

  int classes() const { return classes_; }
  // Throws std::out_of_range for a class outside [0, classes).
  void add(int actual, int predicted, int64_t count = 1);
  void add_all(const std::vector<int>& actual, const std::vector<int>& predicted);
  void merge(const Confusion& other);  // same class count required
  void clear();

  int64_t at(int actual, int predicted) const;
  const std::vector<int64_t>& counts() const { return counts_; }  // row-major [classes^2]
  int64_t total() const;
  int64_t row_total(int actual) const;
  int64_t column_total(int predicted) const;
  double accuracy() const;  // 0 when empty

  // Each row divided by its total (a row with no items stays all zeros).
  std::vector<double> row_normalized() const;

  // precision = tp / predicted-as-c, recall = tp / actually-c,
  // f1 = 2pr / (p + r); an undefined ratio (0/0) is 0 (scikit-learn's
  // zero_division=0), never NaN.
  ClassMetrics metrics(int c) const;
  std::vector<ClassMetrics> per_class() const;
  // Unweighted means over all classes (scikit-learn "macro").
  ClassMetrics macro() const;

 private:
  void check(int c, const char* what) const;
  int classes_ = 0;
  std::vector<int64_t> counts_;
};

}  // namespace perceptra
