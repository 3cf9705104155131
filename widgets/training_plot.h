#pragma once
// Live training curves on QCustomPlot: named series (train loss per batch
// with a smoothed line, valid loss per epoch as markers, accuracy, LR,
// momentum, or several runs' curves overlaid), log-y, zoom/pan, reset,
// export PNG/CSV. Appending is O(1); the plot is redrawn by a timer at a
// bounded rate (10 Hz by default) only when something changed, from
// min/max-decimated data, so 50,000+ points per series stay smooth.
#include <QColor>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <QWidget>

#include <memory>
#include <vector>

class QCustomPlot;
class QCPGraph;
class QCPTextElement;
class QMouseEvent;

namespace perceptra::widgets {

struct SeriesStyle {
  enum class Shape { Line, Markers, LineAndMarkers };
  QColor color;  // invalid: next categorical colour (seriesColor)
  Shape shape = Shape::Line;
  double width = 1.6;      // line width in pixels
  double smoothing = 0.0;  // EMA weight in [0, 1): > 0 draws the raw curve faint
                           // and a debiased exponential moving average on top
  bool rightAxis = false;  // plot against the right y axis
  Qt::PenStyle penStyle = Qt::SolidLine;
  bool inLegend = true;
};

class TrainingPlot : public QWidget {
  Q_OBJECT
 public:
  // Names of the series the presets create (use them with append()).
  static const QString kTrainLoss;      // per batch, smoothed
  static const QString kValidLoss;      // per epoch, markers
  static const QString kTrainAccuracy;  // per epoch
  static const QString kValidAccuracy;  // per epoch
  static const QString kLearningRate;   // per batch
  static const QString kMomentum;       // per batch, right axis

  enum class Preset { Loss, Accuracy, Schedule };

  explicit TrainingPlot(QWidget* parent = nullptr);
  ~TrainingPlot() override;

  // Removes every series and creates the preset's series, labels and scales.
  void applyPreset(Preset preset);

  // ---- series ----
  // Adds (or restyles) a series; the legend shows it under `name`.
  void addSeries(const QString& name, const SeriesStyle& style = {});
  bool hasSeries(const QString& name) const;
  void removeSeries(const QString& name);
  void removeAllSeries();
  void clearData();  // keeps the series, drops their points
  QStringList seriesNames() const;
  void setSeriesVisible(const QString& name, bool visible);
  bool isSeriesVisible(const QString& name) const;

  // Appends one point (creating the series with default style if needed).
  // Cheap: no drawing happens here.
  void append(const QString& name, double x, double y);
  // Replaces a series' points (e.g. a finished run's curve for the overlay).
  void setSeriesData(const QString& name, const std::vector<double>& x, const std::vector<double>& y);

  int pointCount(const QString& name) const;
  // Points currently handed to QCustomPlot for the raw curve of `name`
  // (after decimation) and over all graphs (raw + smoothed).
  int drawnPointCount(const QString& name) const;
  int totalDrawnPointCount() const;
  std::vector<double> seriesX(const QString& name) const;
  std::vector<double> seriesY(const QString& name) const;
  // Smoothed values (empty when the series has no smoothing).
  std::vector<double> smoothedY(const QString& name) const;

  // ---- axes and view ----
  void setTitle(const QString& title);
  void setXLabel(const QString& label);
  void setYLabel(const QString& label);
  void setY2Label(const QString& label);
  void setLogY(bool on);
  bool logY() const { return logY_; }
  // Fixes the left y range while following data (lo >= hi: automatic).
  void setYRange(double lo, double hi);
  void setLegendVisible(bool visible);
  bool legendVisible() const;
  // True until the user zooms or pans; then the view stays put until resetView().
  bool followsData() const { return follow_; }
  void resetView();

  // ---- refresh ----
  // Points drawn per graph after decimation; 0 (default) = automatic:
  // two per horizontal pixel of the plot area, at most 4000.
  void setMaxDrawnPoints(int points);
  int maxDrawnPoints() const { return maxDrawn_; }
  void setRefreshInterval(int ms);  // default 100 (10 Hz)
  int refreshInterval() const { return timer_.interval(); }
  // Decimates and replots now if anything changed (export and tests use it).
  void refreshNow();
  int replotCount() const { return replots_; }

  // ---- export ----
  // CSV in long form: header "series,x,y,smoothed", one row per point.
  QString toCsv() const;
  bool exportCsv(const QString& path) const;
  // PNG of the plot; width/height 0 use the widget's size (or 800x500 if hidden).
  bool exportPng(const QString& path, int width = 0, int height = 0);

  QCustomPlot* customPlot() const { return plot_; }
  QSize sizeHint() const override { return {520, 320}; }
  QSize minimumSizeHint() const override { return {220, 140}; }

 signals:
  void logYChanged(bool on);
  // The user zoomed or panned (followsData() became false) or reset the view.
  void viewChanged();

 protected:
  void changeEvent(QEvent* event) override;
  void showEvent(QShowEvent* event) override;

 private:
  struct Series;
  Series* find(const QString& name) const;
  Series& ensure(const QString& name);
  void markDirty();
  void rebuild();
  void applyStyle(Series& s);
  void restyle();
  void updateAxisRanges();
  void onRangeChanged();
  void showContextMenu(const QPoint& pos);
  void showHoverTip(QMouseEvent* event);
  void askExportPng();
  void askExportCsv();

  QCustomPlot* plot_ = nullptr;
  QCPTextElement* title_ = nullptr;
  std::vector<std::unique_ptr<Series>> series_;
  QTimer timer_;
  bool dirty_ = false;
  bool follow_ = true;
  bool settingRange_ = false;
  bool logY_ = false;
  double fixedLo_ = 0.0, fixedHi_ = 0.0;
  int maxDrawn_ = 0;
  int replots_ = 0;
  int nextColor_ = 0;
};

}  // namespace perceptra::widgets
