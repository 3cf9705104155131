#pragma once
// LR finder result: loss against learning rate on a log x axis, the
// suggested learning rate marked by a vertical line with a label. Clicking
// the curve picks the nearest learning rate (lrPicked).
#include <QWidget>

#include <vector>

class QCustomPlot;
class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;
class QCPItemTracer;
class QMouseEvent;

namespace perceptra::widgets {

class LrFinderPlot : public QWidget {
  Q_OBJECT
 public:
  explicit LrFinderPlot(QWidget* parent = nullptr);

  // lrs must be positive and increasing (as the LR finder sweeps them);
  // pairs with a non-positive lr or a non-finite loss are skipped.
  // `smoothed`, when given (same length), is drawn bold over the raw loss.
  void setData(const std::vector<double>& lrs, const std::vector<double>& losses,
               const std::vector<double>& smoothed = {});
  void clear();
  int pointCount() const { return int(lrs_.size()); }
  const std::vector<double>& lrs() const { return lrs_; }

  // Marks the suggested learning rate (<= 0 removes the mark).
  void setSuggestion(double lr);
  double suggestion() const { return suggestion_; }
  // Learning rate last picked by a click (or setPickedLr), 0 if none.
  double pickedLr() const { return picked_; }
  void setPickedLr(double lr);

  // Widget-local pixel position of data point i (for tests and tours).
  QPoint pointPosition(int index) const;
  // Widget-local rectangle of the "suggested" label (empty when hidden).
  QRect suggestionLabelRect() const;
  bool exportPng(const QString& path, int width = 0, int height = 0);
  QCustomPlot* customPlot() const { return plot_; }

  QSize sizeHint() const override { return {480, 300}; }
  QSize minimumSizeHint() const override { return {220, 140}; }

  // "3.0e-3" style formatting used by the labels.
  static QString formatLr(double lr);

 signals:
  void lrPicked(double lr);

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void restyle();
  void fitRanges();
  void updateMarks();
  void onMousePress(QMouseEvent* event);
  void onMouseMove(QMouseEvent* event);
  int nearestIndex(double pixelX) const;
  bool inRightPart(double lr) const;

  QCustomPlot* plot_;
  QCPGraph* raw_;
  QCPGraph* smooth_;
  QCPItemStraightLine* suggestLine_;
  QCPItemText* suggestLabel_;
  QCPItemTracer* suggestDot_;
  QCPItemTracer* pickDot_;
  QCPItemText* pickLabel_;
  std::vector<double> lrs_, losses_, smoothed_;
  double suggestion_ = 0.0;
  double picked_ = 0.0;
};

}  // namespace perceptra::widgets
