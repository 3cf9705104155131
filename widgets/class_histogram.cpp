#include "widgets/class_histogram.h"

#include <qcustomplot.h>

#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "widgets/plot_style.h"
#include "widgets/theme.h"

namespace perceptra::widgets {

ClassHistogram::ClassHistogram(QWidget* parent) : QWidget(parent), plot_(new QCustomPlot(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(plot_);
  plot_->setAutoAddPlottableToLegend(false);
  placeLegendAbove(plot_);
  setLegendRowVisible(plot_, false);
  plot_->xAxis->grid()->setVisible(false);
  plot_->xAxis->setTickLength(0, 0);
  plot_->xAxis->setSubTicks(false);
  plot_->yAxis->setLabel(tr("images"));
  plot_->yAxis->setSubTicks(false);
  plot_->setInteractions(QCP::Interactions());
  connect(plot_, &QCustomPlot::mousePress, this, &ClassHistogram::onMousePress);
  connect(plot_, &QCustomPlot::mouseMove, this, &ClassHistogram::onMouseMove);
  restyle();
  rebuild();
}

void ClassHistogram::setCounts(const QStringList& classes, const std::vector<double>& counts,
                               const QString& groupName) {
  classes_ = classes;
  for (Group& g : groups_) plot_->removePlottable(g.bars);
  groups_.clear();
  addGroup(groupName, counts);
}

void ClassHistogram::addGroup(const QString& groupName, const std::vector<double>& counts) {
  Group g;
  g.name = groupName;
  g.counts.assign(std::size_t(classes_.size()), 0.0);
  for (std::size_t i = 0; i < g.counts.size() && i < counts.size(); ++i) g.counts[i] = counts[i];
  g.bars = new QCPBars(plot_->xAxis, plot_->yAxis);
  groups_.push_back(g);
  rebuild();
}

void ClassHistogram::clear() {
  classes_.clear();
  for (Group& g : groups_) plot_->removePlottable(g.bars);
  groups_.clear();
  rebuild();
}

double ClassHistogram::count(int group, int classIndex) const {
  if (group < 0 || group >= groupCount() || classIndex < 0 || classIndex >= classCount()) return 0.0;
  return groups_[std::size_t(group)].counts[std::size_t(classIndex)];
}

void ClassHistogram::setValueLabelsVisible(bool on) {
  valueLabels_ = on;
  rebuild();
}

void ClassHistogram::setYLabel(const QString& label) {
  plot_->yAxis->setLabel(label);
  plot_->replot();
}

void ClassHistogram::rebuild() {
  plot_->clearItems();
  const int n = classCount();
  const int groups = std::max(1, groupCount());
  const double width = 0.8 / groups;
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (int i = 0; i < n; ++i) ticker->addTick(i, classes_[i]);
  plot_->xAxis->setTicker(ticker);
  const QFontMetrics fm(font());
  int longest = 0;
  for (const QString& c : classes_) longest = std::max(longest, fm.horizontalAdvance(c));
  const double slot = n > 0 ? double(std::max(100, plot_->axisRect()->width())) / n : 100.0;
  plot_->xAxis->setTickLabelRotation(longest > slot - 6 ? -40 : 0);
  plot_->xAxis->setRange(-0.6, std::max(0, n - 1) + 0.6);

  double top = 0;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    Group& g = groups_[gi];
    const double offset = (double(gi) - (groups - 1) / 2.0) * width;
    QVector<double> keys, values;
    for (int i = 0; i < n; ++i) {
      keys << i + offset;
      values << g.counts[std::size_t(i)];
      top = std::max(top, g.counts[std::size_t(i)]);
    }
    g.bars->setWidth(width * 0.92);
    g.bars->setData(keys, values, true);
    g.bars->setName(g.name);
    if (!g.name.isEmpty() && groups_.size() > 1) g.bars->addToLegend();
  }
  setLegendRowVisible(plot_, groups_.size() > 1);
  plot_->yAxis->setRange(0, top > 0 ? top * (valueLabels_ ? 1.14 : 1.05) : 1.0);
  const bool labels = valueLabels_ && n > 0 && n * groups <= 40;
  if (labels) {
    QFont f = font();
    f.setPointSizeF(f.pointSizeF() * 0.82);
    for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
      const double offset = (double(gi) - (groups - 1) / 2.0) * width;
      for (int i = 0; i < n; ++i) {
        auto* text = new QCPItemText(plot_);
        text->position->setCoords(i + offset, groups_[gi].counts[std::size_t(i)]);
        text->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
        text->setText(QString::number(std::llround(groups_[gi].counts[std::size_t(i)])));
        text->setFont(f);
        QColor c = palette().color(QPalette::WindowText);
        c.setAlpha(190);
        text->setColor(c);
        text->setPadding(QMargins(0, 0, 0, 2));
      }
    }
  }
  restyle();
  plot_->replot();
}

void ClassHistogram::restyle() {
  stylePlot(plot_, palette());
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    const QColor c = seriesColor(int(gi));
    QColor fill = c;
    fill.setAlpha(210);
    groups_[gi].bars->setPen(QPen(c.darker(115), 1));
    groups_[gi].bars->setBrush(fill);
  }
}

int ClassHistogram::classAt(const QPoint& pos) const {
  if (classCount() == 0 || !plot_->axisRect()->rect().contains(pos)) return -1;
  const int i = int(std::lround(plot_->xAxis->pixelToCoord(pos.x())));
  return i >= 0 && i < classCount() ? i : -1;
}

QPoint ClassHistogram::barPosition(int group, int classIndex) const {
  const int groups = std::max(1, groupCount());
  const double width = 0.8 / groups;
  const double key = classIndex + (double(group) - (groups - 1) / 2.0) * width;
  const QPointF p(plot_->xAxis->coordToPixel(key), plot_->yAxis->coordToPixel(count(group, classIndex) / 2));
  return plot_->mapTo(this, p.toPoint());
}

void ClassHistogram::onMousePress(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return;
  const int i = classAt(event->pos());
  if (i >= 0) emit classClicked(i);
}

void ClassHistogram::onMouseMove(QMouseEvent* event) {
  const int i = classAt(event->pos());
  if (i < 0) {
    QToolTip::hideText();
    return;
  }
  QString tip = QStringLiteral("<b>%1</b>").arg(classes_[i].toHtmlEscaped());
  for (const Group& g : groups_) {
    double sum = 0;
    for (double v : g.counts) sum += v;
    const double v = g.counts[std::size_t(i)];
    const QString pct = sum > 0 ? QString::number(100.0 * v / sum, 'f', 1) : QStringLiteral("0");
    tip += QStringLiteral("<br>%1%2 images (%3%)")
               .arg(g.name.isEmpty() ? QString() : g.name.toHtmlEscaped() + ": ")
               .arg(std::llround(v))
               .arg(pct);
  }
  QToolTip::showText(event->globalPosition().toPoint(), tip, plot_);
}

bool ClassHistogram::exportPng(const QString& path, int width, int height) {
  if (width <= 0 || height <= 0) {
    width = plot_->width() > 50 ? plot_->width() : 640;
    height = plot_->height() > 50 ? plot_->height() : 320;
  }
  return plot_->savePng(path, width, height, 2.0);
}

void ClassHistogram::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  rebuild();  // tick label rotation depends on the width per class
}

void ClassHistogram::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::ApplicationPaletteChange ||
      event->type() == QEvent::FontChange)
    rebuild();
  QWidget::changeEvent(event);
}

}  // namespace perceptra::widgets
