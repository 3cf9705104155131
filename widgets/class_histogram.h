#pragma once
// Bar chart of image counts per class (QCustomPlot bars), optionally with
// several groups side by side (e.g. train and validation). Counts are
// written above the bars; clicking a bar emits classClicked.
#include <QStringList>
#include <QWidget>

#include <vector>

class QCustomPlot;
class QCPBars;
class QMouseEvent;

namespace perceptra::widgets {

class ClassHistogram : public QWidget {
  Q_OBJECT
 public:
  explicit ClassHistogram(QWidget* parent = nullptr);

  // One group: replaces everything. counts.size() should equal classes.size()
  // (missing counts are 0, extra ones ignored).
  void setCounts(const QStringList& classes, const std::vector<double>& counts, const QString& groupName = QString());
  // Adds a group drawn beside the existing ones (same classes).
  void addGroup(const QString& groupName, const std::vector<double>& counts);
  void clear();

  int classCount() const { return int(classes_.size()); }
  int groupCount() const { return int(groups_.size()); }
  double count(int group, int classIndex) const;
  void setValueLabelsVisible(bool on);
  void setYLabel(const QString& label);

  // Widget-local position of the top centre of a bar (for tests).
  QPoint barPosition(int group, int classIndex) const;
  bool exportPng(const QString& path, int width = 0, int height = 0);
  QCustomPlot* customPlot() const { return plot_; }

  QSize sizeHint() const override { return {480, 260}; }
  QSize minimumSizeHint() const override { return {200, 120}; }

 signals:
  void classClicked(int classIndex);

 protected:
  void changeEvent(QEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;

 private:
  struct Group {
    QString name;
    std::vector<double> counts;
    QCPBars* bars = nullptr;
  };
  void rebuild();
  void restyle();
  void onMousePress(QMouseEvent* event);
  void onMouseMove(QMouseEvent* event);
  int classAt(const QPoint& pos) const;

  QCustomPlot* plot_;
  QStringList classes_;
  std::vector<Group> groups_;
  bool valueLabels_ = true;
};

}  // namespace perceptra::widgets
