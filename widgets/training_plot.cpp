#include "widgets/training_plot.h"

#include <qcustomplot.h>

#include <QFile>
#include <QFileDialog>
#include <QMenu>
#include <QTextStream>
#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <limits>

#include "widgets/plot_style.h"
#include "widgets/series_decimation.h"
#include "widgets/theme.h"

namespace perceptra::widgets {

const QString TrainingPlot::kTrainLoss = QStringLiteral("train loss");
const QString TrainingPlot::kValidLoss = QStringLiteral("valid loss");
const QString TrainingPlot::kTrainAccuracy = QStringLiteral("train accuracy");
const QString TrainingPlot::kValidAccuracy = QStringLiteral("valid accuracy");
const QString TrainingPlot::kLearningRate = QStringLiteral("learning rate");
const QString TrainingPlot::kMomentum = QStringLiteral("momentum");

struct TrainingPlot::Series {
  QString name;
  SeriesStyle style;
  std::vector<double> x, y, smooth;
  bool sorted = true;  // x non-decreasing: enables visible-range decimation
  double ema = 0.0;    // running EMA state (biased) for incremental smoothing
  QCPGraph* raw = nullptr;
  QCPGraph* smoothed = nullptr;  // only when style.smoothing > 0
  bool visible = true;

  void pushSmoothed(double value) {
    const double w = style.smoothing;
    if (!std::isfinite(value)) {  // keep the curve continuous over NaN/inf
      smooth.push_back(smooth.empty() ? value : smooth.back());
      return;
    }
    ema = w * ema + (1.0 - w) * value;
    // Debias like TensorBoard, so the first points are not pulled to zero.
    const double debias = 1.0 - std::pow(w, double(smooth.size() + 1));
    smooth.push_back(debias > 0 ? ema / debias : value);
  }
  void recomputeSmoothed() {
    smooth.clear();
    ema = 0.0;
    if (style.smoothing <= 0.0) return;
    smooth.reserve(y.size());
    for (double v : y) pushSmoothed(v);
  }
};

namespace {

void setGraphData(QCPGraph* graph, const DecimatedSeries& d) {
  QVector<QCPGraphData> data(qsizetype(d.x.size()));
  for (std::size_t i = 0; i < d.x.size(); ++i) data[qsizetype(i)] = QCPGraphData(d.x[i], d.y[i]);
  graph->data()->set(data, true);
}

struct Bounds {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool valid() const { return lo <= hi; }
};

QCPRange padded(const Bounds& b, bool log) {
  if (!b.valid()) return log ? QCPRange(0.01, 10) : QCPRange(0, 1);
  if (log) {
    const double lo = b.lo, hi = std::max(b.hi, b.lo * 1.0001);
    return QCPRange(lo / 1.15, hi * 1.15);
  }
  double span = b.hi - b.lo;
  if (span <= 0) span = std::max(std::abs(b.hi) * 0.1, 1e-6);
  return QCPRange(b.lo - 0.06 * span, b.hi + 0.06 * span);
}

}  // namespace

TrainingPlot::TrainingPlot(QWidget* parent) : QWidget(parent), plot_(new QCustomPlot(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(plot_);

  plot_->setNoAntialiasingOnDrag(true);
  plot_->setPlottingHint(QCP::phCacheLabels, true);
  plot_->setPlottingHint(QCP::phFastPolylines, true);  // one polyline per graph: ~2x faster replots
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->axisRect()->setRangeDragAxes({plot_->xAxis}, {plot_->yAxis, plot_->yAxis2});
  plot_->axisRect()->setRangeZoomAxes({plot_->xAxis}, {plot_->yAxis, plot_->yAxis2});
  plot_->axisRect()->setRangeZoomFactor(0.85);
  plot_->xAxis->setLabel(tr("epoch"));
  plot_->yAxis2->setVisible(false);
  plot_->setAutoAddPlottableToLegend(false);

  // Legend in its own row above the axis rect, so it never hides a curve.
  placeLegendAbove(plot_);

  plot_->setContextMenuPolicy(Qt::CustomContextMenu);
  connect(plot_, &QWidget::customContextMenuRequested, this, &TrainingPlot::showContextMenu);
  connect(plot_, &QCustomPlot::afterReplot, this, [this] { ++replots_; });
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { resetView(); });
  connect(plot_, &QCustomPlot::mouseMove, this, &TrainingPlot::showHoverTip);
  connect(plot_, &QCustomPlot::legendClick, this, [this](QCPLegend*, QCPAbstractLegendItem* item, QMouseEvent*) {
    auto* pli = qobject_cast<QCPPlottableLegendItem*>(item);
    if (!pli) return;
    for (const auto& s : series_)
      if (s->raw == pli->plottable() || s->smoothed == pli->plottable()) setSeriesVisible(s->name, !s->visible);
  });
  for (QCPAxis* axis : {plot_->xAxis, plot_->yAxis, plot_->yAxis2})
    connect(axis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, &TrainingPlot::onRangeChanged);

  timer_.setSingleShot(true);
  timer_.setInterval(100);
  connect(&timer_, &QTimer::timeout, this, [this] {
    if (isVisible()) refreshNow();  // hidden: showEvent refreshes
  });
  restyle();
}

TrainingPlot::~TrainingPlot() = default;

void TrainingPlot::applyPreset(Preset preset) {
  removeAllSeries();
  setLogY(false);
  setYRange(0, 0);
  plot_->xAxis->setLabel(tr("epoch"));
  switch (preset) {
    case Preset::Loss: {
      SeriesStyle train;
      train.color = seriesColor(0);
      train.smoothing = 0.9;
      addSeries(kTrainLoss, train);
      SeriesStyle valid;
      valid.color = seriesColor(1);
      valid.shape = SeriesStyle::Shape::LineAndMarkers;
      valid.width = 1.8;
      addSeries(kValidLoss, valid);
      setYLabel(tr("loss"));
      setY2Label({});
      break;
    }
    case Preset::Accuracy: {
      SeriesStyle train;
      train.color = seriesColor(0);
      train.shape = SeriesStyle::Shape::LineAndMarkers;
      addSeries(kTrainAccuracy, train);
      SeriesStyle valid;
      valid.color = seriesColor(1);
      valid.shape = SeriesStyle::Shape::LineAndMarkers;
      valid.width = 1.8;
      addSeries(kValidAccuracy, valid);
      setYLabel(tr("accuracy"));
      setY2Label({});
      break;
    }
    case Preset::Schedule: {
      SeriesStyle lr;
      lr.color = seriesColor(2);
      addSeries(kLearningRate, lr);
      SeriesStyle mom;
      mom.color = seriesColor(4);
      mom.rightAxis = true;
      mom.penStyle = Qt::DashLine;
      addSeries(kMomentum, mom);
      setYLabel(tr("learning rate"));
      setY2Label(tr("momentum"));
      break;
    }
  }
  nextColor_ = 3;
  resetView();
}

TrainingPlot::Series* TrainingPlot::find(const QString& name) const {
  for (const auto& s : series_)
    if (s->name == name) return s.get();
  return nullptr;
}

TrainingPlot::Series& TrainingPlot::ensure(const QString& name) {
  if (Series* s = find(name)) return *s;
  addSeries(name);
  return *find(name);
}

void TrainingPlot::addSeries(const QString& name, const SeriesStyle& style) {
  Series* s = find(name);
  if (!s) {
    series_.push_back(std::make_unique<Series>());
    s = series_.back().get();
    s->name = name;
  }
  const double oldSmoothing = s->style.smoothing;
  s->style = style;
  s->style.smoothing = std::clamp(style.smoothing, 0.0, 0.999);
  if (!s->style.color.isValid()) s->style.color = seriesColor(nextColor_++);
  QCPAxis* valueAxis = s->style.rightAxis ? plot_->yAxis2 : plot_->yAxis;
  if (s->raw && s->raw->valueAxis() != valueAxis) {
    plot_->removeGraph(s->raw);
    s->raw = nullptr;
  }
  if (!s->raw) s->raw = plot_->addGraph(plot_->xAxis, valueAxis);
  if (s->style.smoothing > 0) {
    if (s->smoothed && s->smoothed->valueAxis() != valueAxis) {
      plot_->removeGraph(s->smoothed);
      s->smoothed = nullptr;
    }
    if (!s->smoothed) s->smoothed = plot_->addGraph(plot_->xAxis, valueAxis);
    if (oldSmoothing != s->style.smoothing || s->smooth.size() != s->y.size()) s->recomputeSmoothed();
  } else if (s->smoothed) {
    plot_->removeGraph(s->smoothed);
    s->smoothed = nullptr;
    s->smooth.clear();
  }
  if (s->style.rightAxis) plot_->yAxis2->setVisible(true);
  applyStyle(*s);
  markDirty();
}

void TrainingPlot::applyStyle(Series& s) {
  const QColor c = s.style.color;
  const bool markers = s.style.shape != SeriesStyle::Shape::Line;
  const bool line = s.style.shape != SeriesStyle::Shape::Markers;
  QCPGraph* main = s.smoothed ? s.smoothed : s.raw;

  if (s.smoothed) {
    // Raw per-batch values: a faint band behind the smoothed line.
    QColor faint = c;
    faint.setAlpha(isDarkPalette(palette()) ? 70 : 60);
    s.raw->setPen(QPen(faint, 1.0));
    s.raw->setLineStyle(QCPGraph::lsLine);
    s.raw->setScatterStyle(QCPScatterStyle::ssNone);
  }
  QPen pen(c, s.style.width, s.style.penStyle);
  pen.setCapStyle(Qt::RoundCap);
  pen.setJoinStyle(Qt::RoundJoin);
  main->setPen(line ? pen : QPen(Qt::NoPen));
  main->setLineStyle(line ? QCPGraph::lsLine : QCPGraph::lsNone);
  if (markers) {
    QCPScatterStyle scatter(QCPScatterStyle::ssCircle, QPen(c, 1.5), QBrush(palette().color(QPalette::Base)), 6.5);
    main->setScatterStyle(scatter);
  } else {
    main->setScatterStyle(QCPScatterStyle::ssNone);
  }
  main->setName(s.name);
  main->setVisible(s.visible);
  s.raw->setVisible(s.visible);
  // Exactly one legend entry per series.
  if (s.raw != main && plot_->legend->hasItemWithPlottable(s.raw)) s.raw->removeFromLegend();
  if (s.style.inLegend) {
    if (!plot_->legend->hasItemWithPlottable(main)) main->addToLegend();
  } else if (plot_->legend->hasItemWithPlottable(main)) {
    main->removeFromLegend();
  }
  if (QCPPlottableLegendItem* item = plot_->legend->itemWithPlottable(main)) {
    QColor text = palette().color(QPalette::WindowText);
    if (!s.visible) text.setAlpha(90);
    item->setTextColor(text);
  }
}

bool TrainingPlot::hasSeries(const QString& name) const { return find(name) != nullptr; }

void TrainingPlot::removeSeries(const QString& name) {
  auto it = std::find_if(series_.begin(), series_.end(), [&](const auto& s) { return s->name == name; });
  if (it == series_.end()) return;
  if ((*it)->smoothed) plot_->removeGraph((*it)->smoothed);
  plot_->removeGraph((*it)->raw);
  series_.erase(it);
  plot_->yAxis2->setVisible(
      std::any_of(series_.begin(), series_.end(), [](const auto& s) { return s->style.rightAxis; }));
  markDirty();
}

void TrainingPlot::removeAllSeries() {
  while (!series_.empty()) removeSeries(series_.back()->name);
  nextColor_ = 0;
}

void TrainingPlot::clearData() {
  for (auto& s : series_) {
    s->x.clear();
    s->y.clear();
    s->smooth.clear();
    s->ema = 0.0;
    s->sorted = true;
  }
  follow_ = true;
  markDirty();
}

QStringList TrainingPlot::seriesNames() const {
  QStringList names;
  for (const auto& s : series_) names << s->name;
  return names;
}

void TrainingPlot::setSeriesVisible(const QString& name, bool visible) {
  Series* s = find(name);
  if (!s || s->visible == visible) return;
  s->visible = visible;
  applyStyle(*s);
  markDirty();
}

bool TrainingPlot::isSeriesVisible(const QString& name) const {
  const Series* s = find(name);
  return s && s->visible;
}

void TrainingPlot::append(const QString& name, double x, double y) {
  Series& s = ensure(name);
  if (!s.x.empty() && x < s.x.back()) s.sorted = false;
  s.x.push_back(x);
  s.y.push_back(y);
  if (s.style.smoothing > 0) s.pushSmoothed(y);
  markDirty();
}

void TrainingPlot::setSeriesData(const QString& name, const std::vector<double>& x, const std::vector<double>& y) {
  Series& s = ensure(name);
  const std::size_t n = std::min(x.size(), y.size());
  s.x.assign(x.begin(), x.begin() + std::ptrdiff_t(n));
  s.y.assign(y.begin(), y.begin() + std::ptrdiff_t(n));
  s.sorted = std::is_sorted(s.x.begin(), s.x.end());
  s.recomputeSmoothed();
  markDirty();
}

int TrainingPlot::pointCount(const QString& name) const {
  const Series* s = find(name);
  return s ? int(s->x.size()) : 0;
}

int TrainingPlot::drawnPointCount(const QString& name) const {
  const Series* s = find(name);
  return s ? s->raw->dataCount() : 0;
}

int TrainingPlot::totalDrawnPointCount() const {
  int total = 0;
  for (int i = 0; i < plot_->graphCount(); ++i) total += plot_->graph(i)->dataCount();
  return total;
}

std::vector<double> TrainingPlot::seriesX(const QString& name) const {
  const Series* s = find(name);
  return s ? s->x : std::vector<double>{};
}
std::vector<double> TrainingPlot::seriesY(const QString& name) const {
  const Series* s = find(name);
  return s ? s->y : std::vector<double>{};
}
std::vector<double> TrainingPlot::smoothedY(const QString& name) const {
  const Series* s = find(name);
  return s ? s->smooth : std::vector<double>{};
}

void TrainingPlot::setTitle(const QString& title) {
  if (title.isEmpty()) {
    if (title_) {
      plot_->plotLayout()->remove(title_);
      plot_->plotLayout()->simplify();
      title_ = nullptr;
    }
  } else {
    if (!title_) {
      plot_->plotLayout()->insertRow(0);
      title_ = new QCPTextElement(plot_, title);
      plot_->plotLayout()->addElement(0, 0, title_);
      plot_->plotLayout()->setRowStretchFactor(0, 0.001);
    }
    title_->setText(title);
    restyle();
  }
  markDirty();
}

void TrainingPlot::setXLabel(const QString& label) {
  plot_->xAxis->setLabel(label);
  markDirty();
}
void TrainingPlot::setYLabel(const QString& label) {
  plot_->yAxis->setLabel(label);
  markDirty();
}
void TrainingPlot::setY2Label(const QString& label) {
  plot_->yAxis2->setLabel(label);
  markDirty();
}

void TrainingPlot::setLogY(bool on) {
  if (on == logY_) return;
  logY_ = on;
  if (on) {
    plot_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    auto ticker = QSharedPointer<QCPAxisTickerLog>::create();
    ticker->setLogBase(10);
    ticker->setSubTickCount(8);
    plot_->yAxis->setTicker(ticker);
    plot_->yAxis->setNumberFormat("gb");
    plot_->yAxis->grid()->setSubGridVisible(true);
  } else {
    plot_->yAxis->setScaleType(QCPAxis::stLinear);
    plot_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
    plot_->yAxis->setNumberFormat("g");
    plot_->yAxis->grid()->setSubGridVisible(false);
  }
  follow_ = true;  // the old range means nothing on the new scale
  markDirty();
  emit logYChanged(on);
}

void TrainingPlot::setYRange(double lo, double hi) {
  fixedLo_ = lo;
  fixedHi_ = hi;
  markDirty();
}

void TrainingPlot::setLegendVisible(bool visible) {
  setLegendRowVisible(plot_, visible);
  markDirty();
}

bool TrainingPlot::legendVisible() const { return plot_->legend->visible(); }

void TrainingPlot::resetView() {
  follow_ = true;
  markDirty();
  emit viewChanged();
}

void TrainingPlot::setMaxDrawnPoints(int points) {
  maxDrawn_ = points <= 0 ? 0 : std::max(points, 16);
  markDirty();
}

void TrainingPlot::setRefreshInterval(int ms) { timer_.setInterval(std::max(ms, 0)); }

void TrainingPlot::markDirty() {
  dirty_ = true;
  if (!timer_.isActive()) timer_.start();
}

void TrainingPlot::refreshNow() {
  if (!dirty_) return;
  timer_.stop();
  rebuild();
  plot_->replot();
}

void TrainingPlot::onRangeChanged() {
  if (settingRange_) return;
  // The user zoomed or panned: stop following, re-decimate for the new range.
  if (follow_) {
    follow_ = false;
    emit viewChanged();
  }
  markDirty();
}

void TrainingPlot::updateAxisRanges() {
  Bounds bx, by, by2;
  for (const auto& s : series_) {
    if (!s->visible || s->x.empty()) continue;
    Bounds& b = s->style.rightAxis ? by2 : by;
    const bool log = logY_ && !s->style.rightAxis;
    for (double v : s->x) bx.add(v);  // x is cheap to scan; sorted series could use ends
    for (double v : s->y)
      if (!log || v > 0) b.add(v);
  }
  settingRange_ = true;
  if (bx.valid()) {
    const double span = bx.hi > bx.lo ? bx.hi - bx.lo : 1.0;
    // 3 % each side keeps the first and last markers (epoch points) whole.
    plot_->xAxis->setRange(bx.lo - 0.03 * span, bx.hi + 0.03 * span);
  } else {
    plot_->xAxis->setRange(0, 1);
  }
  if (fixedHi_ > fixedLo_ && !logY_) {
    plot_->yAxis->setRange(fixedLo_, fixedHi_);
  } else {
    plot_->yAxis->setRange(padded(by, logY_));
  }
  plot_->yAxis2->setRange(padded(by2, false));
  settingRange_ = false;
}

void TrainingPlot::rebuild() {
  dirty_ = false;
  if (follow_) updateAxisRanges();
  const QCPRange xr = plot_->xAxis->range();
  // Decimate a margin of one view width each side so short pans stay exact
  // until the next refresh.
  const double lo = xr.lower - xr.size(), hi = xr.upper + xr.size();
  // Auto: min/max decimation needs two points per pixel column to look
  // exactly like the full data; more only costs drawing time.
  const int autoPts = std::max(400, 2 * plot_->axisRect()->width());
  const std::size_t maxPts = std::size_t(maxDrawn_ > 0 ? maxDrawn_ : std::min(autoPts, 4000));
  for (auto& s : series_) {
    std::size_t first = 0, last = s->x.size();
    if (s->sorted && !follow_) visibleIndexRange(s->x, lo, hi, first, last);
    const bool log = logY_ && !s->style.rightAxis;
    setGraphData(s->raw, decimateMinMax(s->x, s->y, first, last, maxPts, log));
    if (s->smoothed) setGraphData(s->smoothed, decimateMinMax(s->x, s->smooth, first, last, maxPts, log));
    if (s->style.shape == SeriesStyle::Shape::LineAndMarkers) {
      // Markers help with a few epochs; past ~60 in view they only clutter the line.
      QCPGraph* main = s->smoothed ? s->smoothed : s->raw;
      std::size_t inView = 0;
      for (std::size_t i = first; i < last; ++i) inView += (s->x[i] >= xr.lower && s->x[i] <= xr.upper);
      const bool markers = inView <= 60;
      if (markers != (main->scatterStyle().shape() != QCPScatterStyle::ssNone)) {
        if (markers)
          main->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(s->style.color, 1.5),
                                                QBrush(palette().color(QPalette::Base)), 6.5));
        else
          main->setScatterStyle(QCPScatterStyle::ssNone);
      }
    }
  }
}

void TrainingPlot::restyle() {
  stylePlot(plot_, palette());
  if (title_) {
    QFont f = font();
    f.setBold(true);
    title_->setFont(f);
    title_->setTextColor(palette().color(QPalette::WindowText));
  }
  for (auto& s : series_) applyStyle(*s);
  dirty_ = true;
  if (!timer_.isActive()) timer_.start();
}

void TrainingPlot::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::ApplicationPaletteChange ||
      event->type() == QEvent::FontChange)
    restyle();
  QWidget::changeEvent(event);
}

void TrainingPlot::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (dirty_ && !timer_.isActive()) timer_.start();
}

void TrainingPlot::showHoverTip(QMouseEvent* event) {
  if (event->buttons() != Qt::NoButton || series_.empty()) return;
  if (!plot_->axisRect()->rect().contains(event->pos())) {
    QToolTip::hideText();
    return;
  }
  const double key = plot_->xAxis->pixelToCoord(event->pos().x());
  QStringList lines;
  lines << QStringLiteral("<b>%1 %2</b>").arg(plot_->xAxis->label()).arg(key, 0, 'f', 2);
  for (const auto& s : series_) {
    if (!s->visible || s->x.empty() || !s->sorted) continue;
    auto it = std::lower_bound(s->x.begin(), s->x.end(), key);
    std::size_t i = std::size_t(it - s->x.begin());
    if (i == s->x.size() || (i > 0 && key - s->x[i - 1] < s->x[i] - key)) i = i > 0 ? i - 1 : 0;
    // Only report points near the cursor (within ~12 px).
    if (std::abs(plot_->xAxis->coordToPixel(s->x[i]) - event->pos().x()) > 12 && s->x.size() < 200) continue;
    QString value = QString::number(s->y[i], 'g', 4);
    if (!s->smooth.empty()) value += QStringLiteral(" (smoothed %1)").arg(s->smooth[i], 0, 'g', 4);
    lines << QStringLiteral("<span style='color:%1'>&#9632;</span> %2: %3")
                 .arg(s->style.color.name(), s->name.toHtmlEscaped(), value);
  }
  if (lines.size() > 1)
    QToolTip::showText(event->globalPosition().toPoint(), lines.join("<br>"), plot_);
  else
    QToolTip::hideText();
}

QString TrainingPlot::toCsv() const {
  QString out;
  QTextStream ts(&out);
  ts << "series,x,y,smoothed\n";
  for (const auto& s : series_) {
    QString name = s->name;
    if (name.contains(',') || name.contains('"')) name = '"' + name.replace('"', "\"\"") + '"';
    for (std::size_t i = 0; i < s->x.size(); ++i) {
      ts << name << ',' << QString::number(s->x[i], 'g', 10) << ',' << QString::number(s->y[i], 'g', 10) << ',';
      if (i < s->smooth.size()) ts << QString::number(s->smooth[i], 'g', 10);
      ts << '\n';
    }
  }
  return out;
}

bool TrainingPlot::exportCsv(const QString& path) const {
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) return false;
  const QByteArray bytes = toCsv().toUtf8();
  return file.write(bytes) == bytes.size();
}

bool TrainingPlot::exportPng(const QString& path, int width, int height) {
  if (dirty_) {
    timer_.stop();
    rebuild();
  }
  if (width <= 0 || height <= 0) {
    const bool sized = plot_->width() > 50 && plot_->height() > 50;
    width = sized ? plot_->width() : 800;
    height = sized ? plot_->height() : 500;
  }
  return plot_->savePng(path, width, height, 2.0);
}

void TrainingPlot::showContextMenu(const QPoint& pos) {
  QMenu menu(this);
  menu.addAction(tr("Reset view"), this, &TrainingPlot::resetView);
  QAction* log = menu.addAction(tr("Logarithmic y axis"));
  log->setCheckable(true);
  log->setChecked(logY_);
  connect(log, &QAction::toggled, this, &TrainingPlot::setLogY);
  QAction* legend = menu.addAction(tr("Show legend"));
  legend->setCheckable(true);
  legend->setChecked(legendVisible());
  connect(legend, &QAction::toggled, this, &TrainingPlot::setLegendVisible);
  menu.addSeparator();
  menu.addAction(tr("Export PNG…"), this, &TrainingPlot::askExportPng);
  menu.addAction(tr("Export CSV…"), this, &TrainingPlot::askExportCsv);
  menu.exec(plot_->mapToGlobal(pos));
}

void TrainingPlot::askExportPng() {
  const QString path =
      QFileDialog::getSaveFileName(this, tr("Export plot as PNG"), "plot.png", tr("PNG images (*.png)"));
  if (!path.isEmpty()) exportPng(path);
}

void TrainingPlot::askExportCsv() {
  const QString path =
      QFileDialog::getSaveFileName(this, tr("Export data as CSV"), "plot.csv", tr("CSV files (*.csv)"));
  if (!path.isEmpty()) exportCsv(path);
}

}  // namespace perceptra::widgets
