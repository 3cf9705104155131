#include "widgets/lr_finder_plot.h"

#include <qcustomplot.h>

#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "widgets/plot_style.h"
#include "widgets/theme.h"

namespace perceptra::widgets {

QString LrFinderPlot::formatLr(double lr) {
  if (!(lr > 0)) return QStringLiteral("–");
  const int exponent = int(std::floor(std::log10(lr)));
  const double mantissa = lr / std::pow(10.0, exponent);
  return QStringLiteral("%1e%2").arg(mantissa, 0, 'f', 1).arg(exponent);
}

LrFinderPlot::LrFinderPlot(QWidget* parent) : QWidget(parent), plot_(new QCustomPlot(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(plot_);

  plot_->xAxis->setScaleType(QCPAxis::stLogarithmic);
  auto ticker = QSharedPointer<QCPAxisTickerLog>::create();
  ticker->setSubTickCount(8);
  plot_->xAxis->setTicker(ticker);
  plot_->xAxis->setNumberFormat("eb");
  plot_->xAxis->setNumberPrecision(0);
  plot_->xAxis->grid()->setSubGridVisible(true);
  plot_->xAxis->setLabel(tr("learning rate"));
  plot_->yAxis->setLabel(tr("loss"));
  plot_->legend->setVisible(false);
  plot_->setInteractions(QCP::Interactions());  // clicks pick; the sweep range is the view

  raw_ = plot_->addGraph();
  smooth_ = plot_->addGraph();

  suggestLine_ = new QCPItemStraightLine(plot_);
  suggestLabel_ = new QCPItemText(plot_);
  suggestLabel_->position->setTypeX(QCPItemPosition::ptPlotCoords);
  suggestLabel_->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
  suggestLabel_->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
  suggestLabel_->setPadding(QMargins(5, 3, 5, 3));
  suggestLabel_->setClipToAxisRect(false);
  suggestDot_ = new QCPItemTracer(plot_);
  suggestDot_->setStyle(QCPItemTracer::tsCircle);
  suggestDot_->setSize(9);
  suggestDot_->setInterpolating(true);

  pickDot_ = new QCPItemTracer(plot_);
  pickDot_->setStyle(QCPItemTracer::tsCircle);
  pickDot_->setSize(8);
  pickDot_->setInterpolating(true);
  pickLabel_ = new QCPItemText(plot_);
  pickLabel_->position->setParentAnchor(pickDot_->position);
  pickLabel_->position->setCoords(8, -8);
  pickLabel_->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
  pickLabel_->setPadding(QMargins(4, 2, 4, 2));

  connect(plot_, &QCustomPlot::mousePress, this, &LrFinderPlot::onMousePress);
  connect(plot_, &QCustomPlot::mouseMove, this, &LrFinderPlot::onMouseMove);
  restyle();
  updateMarks();
}

void LrFinderPlot::setData(const std::vector<double>& lrs, const std::vector<double>& losses,
                           const std::vector<double>& smoothed) {
  lrs_.clear();
  losses_.clear();
  smoothed_.clear();
  const std::size_t n = std::min(lrs.size(), losses.size());
  const bool withSmooth = smoothed.size() >= n && n > 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!(lrs[i] > 0) || !std::isfinite(losses[i])) continue;
    if (withSmooth && !std::isfinite(smoothed[i])) continue;
    lrs_.push_back(lrs[i]);
    losses_.push_back(losses[i]);
    if (withSmooth) smoothed_.push_back(smoothed[i]);
  }
  raw_->setData(QVector<double>(lrs_.begin(), lrs_.end()), QVector<double>(losses_.begin(), losses_.end()));
  if (withSmooth)
    smooth_->setData(QVector<double>(lrs_.begin(), lrs_.end()), QVector<double>(smoothed_.begin(), smoothed_.end()));
  else
    smooth_->data()->clear();
  restyle();
  fitRanges();
  updateMarks();
  plot_->replot();
}

void LrFinderPlot::clear() {
  setData({}, {});
  suggestion_ = 0.0;
  picked_ = 0.0;
  updateMarks();
  plot_->replot();
}

void LrFinderPlot::fitRanges() {
  if (lrs_.empty()) {
    plot_->xAxis->setRange(1e-6, 1);
    plot_->yAxis->setRange(0, 3);
    return;
  }
  plot_->xAxis->setRange(lrs_.front() / 1.2, lrs_.back() * 1.2);
  const std::vector<double>& y = smoothed_.empty() ? losses_ : smoothed_;
  // The raw curve dips below the smoothed one: keep its valley visible too.
  const double lo = std::min(*std::min_element(y.begin(), y.end()), *std::min_element(losses_.begin(), losses_.end()));
  const double hi = *std::max_element(y.begin(), y.end());
  // The sweep ends when the loss explodes; clip the explosion so the
  // interesting valley keeps most of the height.
  const double start = y.front();
  double top = std::min(hi, start + std::max(start - lo, 0.05 * std::abs(start)) * 0.75);
  if (!(top > lo)) top = hi > lo ? hi : lo + 1.0;
  const double pad = 0.06 * (top - lo);
  plot_->yAxis->setRange(lo - pad, top + pad);
}

void LrFinderPlot::setSuggestion(double lr) {
  suggestion_ = lr > 0 && std::isfinite(lr) ? lr : 0.0;
  updateMarks();
  plot_->replot();
}

void LrFinderPlot::setPickedLr(double lr) {
  picked_ = lr > 0 && std::isfinite(lr) ? lr : 0.0;
  updateMarks();
  plot_->replot();
}

void LrFinderPlot::updateMarks() {
  QCPGraph* curve = smoothed_.empty() ? raw_ : smooth_;
  const bool hasSuggestion = suggestion_ > 0;
  suggestLine_->setVisible(hasSuggestion);
  suggestLabel_->setVisible(hasSuggestion);
  suggestDot_->setVisible(hasSuggestion && !lrs_.empty());
  if (hasSuggestion) {
    suggestLine_->point1->setCoords(suggestion_, 0);
    suggestLine_->point2->setCoords(suggestion_, 1);
    suggestLabel_->position->setCoords(suggestion_, 0.0);
    suggestLabel_->setText(tr("suggested %1").arg(formatLr(suggestion_)));
    // Right of the line, or left of it in the right part of the axis so the
    // label is never cut by the plot's edge.
    suggestLabel_->setPositionAlignment((inRightPart(suggestion_) ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignTop);
    suggestDot_->setGraph(curve);
    suggestDot_->setGraphKey(suggestion_);
  }
  const bool hasPick = picked_ > 0 && !lrs_.empty();
  pickDot_->setVisible(hasPick);
  pickLabel_->setVisible(hasPick);
  if (hasPick) {
    pickDot_->setGraph(curve);
    pickDot_->setGraphKey(picked_);
    pickLabel_->setText(tr("picked %1").arg(formatLr(picked_)));
    const bool right = inRightPart(picked_);
    pickLabel_->position->setCoords(right ? -8 : 8, -8);
    pickLabel_->setPositionAlignment((right ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignBottom);
  }
}

// Position along the (log) x axis past 60 %: labels go to the left there.
bool LrFinderPlot::inRightPart(double lr) const {
  const QCPRange r = plot_->xAxis->range();
  if (!(lr > 0) || !(r.lower > 0) || !(r.upper > r.lower)) return false;
  return (std::log(lr) - std::log(r.lower)) / (std::log(r.upper) - std::log(r.lower)) > 0.6;
}

QRect LrFinderPlot::suggestionLabelRect() const {
  if (!suggestLabel_->visible()) return {};
  const QRectF r(suggestLabel_->topLeft->pixelPosition(), suggestLabel_->bottomRight->pixelPosition());
  return QRect(plot_->mapTo(this, r.topLeft().toPoint()), r.size().toSize());
}

int LrFinderPlot::nearestIndex(double pixelX) const {
  int best = -1;
  double bestDist = 1e300;
  for (std::size_t i = 0; i < lrs_.size(); ++i) {
    const double d = std::abs(plot_->xAxis->coordToPixel(lrs_[i]) - pixelX);
    if (d < bestDist) {
      bestDist = d;
      best = int(i);
    }
  }
  return best;
}

QPoint LrFinderPlot::pointPosition(int index) const {
  if (index < 0 || index >= int(lrs_.size())) return {};
  const std::vector<double>& y = smoothed_.empty() ? losses_ : smoothed_;
  const QPointF p(plot_->xAxis->coordToPixel(lrs_[std::size_t(index)]),
                  plot_->yAxis->coordToPixel(y[std::size_t(index)]));
  return plot_->mapTo(this, p.toPoint());
}

void LrFinderPlot::onMousePress(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton || lrs_.empty()) return;
  if (!plot_->axisRect()->rect().contains(event->pos())) return;
  const int i = nearestIndex(event->pos().x());
  if (i < 0) return;
  picked_ = lrs_[std::size_t(i)];
  updateMarks();
  plot_->replot();
  emit lrPicked(picked_);
}

void LrFinderPlot::onMouseMove(QMouseEvent* event) {
  if (lrs_.empty() || !plot_->axisRect()->rect().contains(event->pos())) {
    QToolTip::hideText();
    return;
  }
  const int i = nearestIndex(event->pos().x());
  if (i < 0) return;
  const std::size_t k = std::size_t(i);
  QString text = tr("lr %1<br>loss %2").arg(formatLr(lrs_[k])).arg(losses_[k], 0, 'g', 4);
  if (!smoothed_.empty()) text += tr(" (smoothed %1)").arg(smoothed_[k], 0, 'g', 4);
  text += tr("<br><i>click to use this learning rate</i>");
  QToolTip::showText(event->globalPosition().toPoint(), text, plot_);
}

bool LrFinderPlot::exportPng(const QString& path, int width, int height) {
  if (width <= 0 || height <= 0) {
    width = plot_->width() > 50 ? plot_->width() : 640;
    height = plot_->height() > 50 ? plot_->height() : 400;
  }
  return plot_->savePng(path, width, height, 2.0);
}

void LrFinderPlot::restyle() {
  const QPalette pal = palette();
  stylePlot(plot_, pal);
  const QColor curve = seriesColor(0);
  const bool hasSmooth = !smoothed_.empty();
  QColor faint = curve;
  faint.setAlpha(hasSmooth ? 80 : 255);
  raw_->setPen(QPen(faint, hasSmooth ? 1.0 : 2.0));
  smooth_->setPen(QPen(curve, 2.2));
  const QColor mark = seriesColor(1);
  suggestLine_->setPen(QPen(mark, 1.5, Qt::DashLine));
  suggestLabel_->setColor(pal.color(QPalette::WindowText));
  QColor labelBg = pal.color(QPalette::Base);
  labelBg.setAlpha(220);
  suggestLabel_->setBrush(QBrush(labelBg));
  suggestLabel_->setPen(QPen(mark, 1));
  suggestDot_->setPen(QPen(mark, 2));
  suggestDot_->setBrush(QBrush(pal.color(QPalette::Base)));
  const QColor pick = accentColor(pal);
  pickDot_->setPen(QPen(pick, 2));
  pickDot_->setBrush(QBrush(pick));
  pickLabel_->setColor(pal.color(QPalette::WindowText));
  pickLabel_->setBrush(QBrush(labelBg));
  pickLabel_->setPen(QPen(pick, 1));
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 0.9);
  suggestLabel_->setFont(f);
  pickLabel_->setFont(f);
}

void LrFinderPlot::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::ApplicationPaletteChange) {
    restyle();
    plot_->replot();
  }
  QWidget::changeEvent(event);
}

}  // namespace perceptra::widgets
