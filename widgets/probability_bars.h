#pragma once
// Horizontal bars of one image's class probabilities, sorted (or in class
// order), the top-k highlighted, the true class marked, a wrong top-1
// prediction drawn in red.
#include <QStringList>
#include <QWidget>

#include <vector>

namespace perceptra::widgets {

class ProbabilityBars : public QWidget {
  Q_OBJECT
 public:
  explicit ProbabilityBars(QWidget* parent = nullptr);

  // probabilities[i] for class i (not required to sum to 1); names optional.
  void setProbabilities(const std::vector<float>& probabilities, const QStringList& names = {});
  void setClassNames(const QStringList& names);
  void clear();
  // True class of the image (-1: unknown).
  void setTrueClass(int classIndex);
  int trueClass() const { return true_; }
  void setTopK(int k);  // default 3
  int topK() const { return k_; }
  // Sorted by probability (default) or in class order.
  void setSorted(bool sorted);
  // Rows shown (0: all classes, default 10).
  void setMaxRows(int rows);

  int predictedClass() const;           // argmax, -1 when empty
  std::vector<int> topClasses() const;  // the k most probable, best first
  std::vector<int> rowOrder() const;    // classes in display order (limited to maxRows)
  float probability(int classIndex) const;

  QSize sizeHint() const override;
  // Wide enough for the longest class name and a short bar.
  QSize minimumSizeHint() const override;
  // Pixels given to the class-name column at the current width.
  int nameColumnWidth() const;
  bool hasHeightForWidth() const override { return false; }

 protected:
  void paintEvent(QPaintEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  QString name(int i) const;
  int rowHeight() const;
  int percentWidth() const;
  int fullNameColumnWidth() const;

  std::vector<float> probs_;
  QStringList names_;
  int true_ = -1;
  int k_ = 3;
  bool sorted_ = true;
  int maxRows_ = 10;
};

}  // namespace perceptra::widgets
