#pragma once
// Parallel coordinates (QCustomPlot): one vertical axis per dimension (the
// hyper-parameters, then the metric), one polyline per item across them.
// Each axis is scaled to its own range (log-scaled when asked, categories
// spread evenly); a missing value (NaN) breaks the line at that axis. Lines
// are coloured by the last axis (the metric), the highlighted one (the best
// trial) drawn thick on top, the selected one outlined. Clicking a line
// emits lineClicked(id).
#include <QStringList>
#include <QWidget>

#include <vector>

class QCustomPlot;
class QCPGraph;

namespace perceptra::widgets {

class ParallelCoordinates : public QWidget {
  Q_OBJECT
 public:
  struct Axis {
    QString name;
    bool log = false;        // values > 0 shown on a log scale
    QStringList categories;  // non-empty: values are indices into it
  };

  explicit ParallelCoordinates(QWidget* parent = nullptr);

  // lines[i][a] is line i's value on axis a; ids[i] names line i.
  void setData(const std::vector<Axis>& axes, const std::vector<std::vector<double>>& lines,
               const std::vector<qint64>& ids);
  void setHighlighted(qint64 id);  // -1: none
  void setSelected(qint64 id);     // -1: none
  // When true, a high value of the last axis is good (its colour is the
  // bright end); false for losses.
  void setHigherIsBetter(bool higher);

  int lineCount() const { return int(ids_.size()); }
  int axisCount() const { return int(axes_.size()); }
  qint64 highlighted() const { return highlighted_; }
  qint64 selected() const { return selected_; }
  QCustomPlot* plot() const { return plot_; }
  // Pixel position (in plot() coordinates) of line `id` on axis `axis`, for
  // tests and tooltips; (-1, -1) when the line has no value there.
  QPoint pointOf(qint64 id, int axis) const;
  // The id of the line within a few pixels of `pos` (plot coordinates), -1.
  qint64 lineAt(const QPoint& pos) const;

 signals:
  void lineClicked(qint64 id);

 protected:
  void changeEvent(QEvent* e) override;

 private:
  double normalized(int axis, double v) const;  // 0..1 on the axis, NaN when missing
  void rebuild();

  QCustomPlot* plot_;
  std::vector<Axis> axes_;
  std::vector<std::vector<double>> lines_;
  std::vector<qint64> ids_;
  std::vector<QCPGraph*> graphs_;
  std::vector<std::pair<double, double>> ranges_;  // per axis, in (log) value space
  qint64 highlighted_ = -1, selected_ = -1;
  bool higher_better_ = true;
};

}  // namespace perceptra::widgets
