#pragma once
// Confusion-matrix heat map: rows are true classes, columns predicted ones.
// Raw counts or row-normalised fractions, class names on both axes, counts
// in the cells, a colour scale, hover tool tips, and a click on a cell emits
// cellClicked(trueClass, predictedClass) and highlights it.
#include <QStringList>
#include <QWidget>

#include <cstdint>
#include <vector>

#include "widgets/colormap.h"

namespace perceptra::widgets {

class ConfusionMatrixView : public QWidget {
  Q_OBJECT
 public:
  explicit ConfusionMatrixView(QWidget* parent = nullptr);

  // Row-major n*n counts: counts[t*n + p] = images of true class t predicted
  // as p. A size mismatch clears the view. The selection survives an update
  // when it is still inside the matrix.
  void setCounts(const std::vector<double>& counts, int n);
  void setCounts(const std::vector<std::int64_t>& counts, int n);
  void clear();
  // Names for the n classes (missing names show as the class index).
  void setClassNames(const QStringList& names);
  QStringList classNames() const { return names_; }
  int classCount() const { return n_; }

  double count(int trueClass, int predictedClass) const;
  // Value shown and coloured: the count, or its fraction of the row in
  // normalised mode (0 for an empty row).
  double displayedValue(int trueClass, int predictedClass) const;
  double total() const;
  double rowTotal(int trueClass) const;
  double accuracy() const;  // trace / total, 0 when empty

  bool normalized() const { return normalized_; }
  void setColormap(Colormap map);
  Colormap colormap() const { return map_; }

  // (-1, -1) when nothing is selected.
  int selectedTrue() const { return selTrue_; }
  int selectedPredicted() const { return selPred_; }
  void setSelectedCell(int trueClass, int predictedClass);  // no signal
  void clearSelection();

  // Widget-local rectangle of a cell (empty when out of range).
  QRect cellRect(int trueClass, int predictedClass) const;
  // Cell under a widget-local point: returns false when none.
  bool cellAt(const QPoint& pos, int* trueClass, int* predictedClass) const;

  QString toCsv() const;  // header row of predicted names, one row per true class
  bool exportPng(const QString& path);

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override { return {200, 180}; }

 public slots:
  void setNormalized(bool on);

 signals:
  void cellClicked(int trueClass, int predictedClass);
  void selectionCleared();
  void normalizedChanged(bool on);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;
  void contextMenuEvent(QContextMenuEvent* event) override;
  bool event(QEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void changeEvent(QEvent* event) override;

 private:
  struct Geometry {
    QRect grid;  // the n*n cells
    double cell = 0;
    QRect colorBar;
    int labelWidth = 0;    // longest class name
    bool rotated = false;  // predicted names drawn at 45 degrees
  };
  void relayout();
  QString className(int i) const;
  QString cellText(int t, int p) const;
  double maxDisplayed() const;

  int n_ = 0;
  std::vector<double> counts_;
  std::vector<double> rowSums_;
  QStringList names_;
  bool normalized_ = false;
  Colormap map_ = Colormap::Viridis;
  int selTrue_ = -1, selPred_ = -1;
  int hoverTrue_ = -1, hoverPred_ = -1;
  Geometry geo_;
};

}  // namespace perceptra::widgets
