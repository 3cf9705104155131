#include "widgets/parallel_coordinates.h"

#include <QEvent>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "widgets/plot_style.h"

namespace perceptra::widgets {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QString format_value(double v) {
  if (!std::isfinite(v)) return QStringLiteral("-");
  const double a = std::abs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5)) return QString::number(v, 'e', 1);
  return QString::number(v, 'g', 4);
}

}  // namespace

ParallelCoordinates::ParallelCoordinates(QWidget* parent) : QWidget(parent), plot_(new QCustomPlot(this)) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(plot_);
  plot_->setInteractions(QCP::iSelectPlottables);
  plot_->yAxis->setVisible(false);
  plot_->yAxis->setRange(-0.08, 1.08);
  plot_->xAxis->grid()->setVisible(false);
  plot_->setMinimumSize(260, 200);
  connect(plot_, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable* p, int, QMouseEvent*) {
    for (size_t i = 0; i < graphs_.size(); ++i)
      if (graphs_[i] == p) {
        setSelected(ids_[i]);
        emit lineClicked(ids_[i]);
        return;
      }
  });
  stylePlot(plot_, palette());
}

void ParallelCoordinates::changeEvent(QEvent* e) {
  QWidget::changeEvent(e);
  if (e->type() == QEvent::PaletteChange) {
    stylePlot(plot_, palette());
    rebuild();
  }
}

void ParallelCoordinates::setData(const std::vector<Axis>& axes, const std::vector<std::vector<double>>& lines,
                                  const std::vector<qint64>& ids) {
  axes_ = axes;
  lines_ = lines;
  ids_ = ids;
  ids_.resize(lines_.size(), -1);
  // Each axis's range over the lines that have a value there.
  ranges_.assign(axes_.size(), {kNaN, kNaN});
  for (size_t a = 0; a < axes_.size(); ++a) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    if (!axes_[a].categories.isEmpty()) {
      lo = 0;
      hi = std::max<double>(0, axes_[a].categories.size() - 1);
    } else {
      for (const auto& l : lines_) {
        if (a >= l.size() || !std::isfinite(l[a])) continue;
        if (axes_[a].log && l[a] <= 0) continue;
        double v = axes_[a].log ? std::log10(l[a]) : l[a];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
    if (lo <= hi) ranges_[a] = {lo, hi};
  }
  rebuild();
}

double ParallelCoordinates::normalized(int axis, double v) const {
  if (axis < 0 || size_t(axis) >= axes_.size() || !std::isfinite(v)) return kNaN;
  const Axis& ax = axes_[size_t(axis)];
  if (ax.log) {
    if (v <= 0) return kNaN;
    v = std::log10(v);
  }
  auto [lo, hi] = ranges_[size_t(axis)];
  if (!std::isfinite(lo)) return kNaN;
  if (hi - lo < 1e-12) return 0.5;  // one value: the middle
  return (v - lo) / (hi - lo);
}

void ParallelCoordinates::setHighlighted(qint64 id) {
  highlighted_ = id;
  rebuild();
}

void ParallelCoordinates::setSelected(qint64 id) {
  selected_ = id;
  rebuild();
}

void ParallelCoordinates::setHigherIsBetter(bool higher) {
  higher_better_ = higher;
  rebuild();
}

void ParallelCoordinates::rebuild() {
  plot_->clearGraphs();
  plot_->clearItems();
  graphs_.clear();
  const int n = int(axes_.size());
  const QPalette pal = palette();
  const QColor text = pal.color(QPalette::WindowText);
  QColor axisColor = text;
  axisColor.setAlpha(140);
  // Axis names as x tick labels; each axis a vertical line with its range.
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (int a = 0; a < n; ++a) {
    ticker->addTick(a, axes_[size_t(a)].name + (axes_[size_t(a)].log ? QStringLiteral(" (log)") : QString()));
    auto* line = new QCPItemLine(plot_);
    line->start->setCoords(a, 0);
    line->end->setCoords(a, 1);
    line->setPen(QPen(axisColor, 1.5));
    line->setSelectable(false);
    const Axis& ax = axes_[size_t(a)];
    auto label = [&](double y, const QString& s, Qt::Alignment align) {
      auto* t = new QCPItemText(plot_);
      t->position->setCoords(a, y);
      t->setPositionAlignment(align);
      t->setText(s);
      t->setColor(text);
      t->setSelectable(false);
      QFont f = font();
      f.setPointSizeF(std::max(7.0, f.pointSizeF() - 1));
      t->setFont(f);
    };
    if (!ax.categories.isEmpty()) {
      for (int c = 0; c < ax.categories.size(); ++c)
        label(normalized(a, c), ax.categories[c], Qt::AlignLeft | Qt::AlignVCenter);
    } else if (std::isfinite(ranges_[size_t(a)].first)) {
      auto [lo, hi] = ranges_[size_t(a)];
      label(1.0, format_value(ax.log ? std::pow(10, hi) : hi), Qt::AlignHCenter | Qt::AlignBottom);
      if (hi - lo >= 1e-12) label(0.0, format_value(ax.log ? std::pow(10, lo) : lo), Qt::AlignHCenter | Qt::AlignTop);
    }
  }
  plot_->xAxis->setTicker(ticker);
  plot_->xAxis->setRange(-0.3, std::max(0.3, n - 0.7));

  // Colour by the last axis (the metric), bright = good.
  QCPColorGradient grad(QCPColorGradient::gpThermal);
  grad.setLevelCount(64);
  std::vector<size_t> order(lines_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Drawn last = on top: the selected, then the highlighted line.
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    auto rank = [&](size_t i) { return ids_[i] == highlighted_ ? 2 : ids_[i] == selected_ ? 1 : 0; };
    return rank(x) < rank(y);
  });
  graphs_.assign(lines_.size(), nullptr);
  for (size_t i : order) {
    auto* g = plot_->addGraph();
    QVector<double> xs, ys;
    for (int a = 0; a < n; ++a) {
      xs.push_back(a);
      ys.push_back(a < int(lines_[i].size()) ? normalized(a, lines_[i][size_t(a)]) : kNaN);  // NaN breaks the line
    }
    g->setData(xs, ys, true);
    double m = n > 0 ? normalized(n - 1, n - 1 < int(lines_[i].size()) ? lines_[i][size_t(n - 1)] : kNaN) : kNaN;
    if (!higher_better_ && std::isfinite(m)) m = 1 - m;
    QColor c = std::isfinite(m) ? QColor(grad.color(0.15 + 0.8 * m, QCPRange(0, 1))) : QColor(128, 128, 128);
    c.setAlpha(200);
    QPen pen(c, 1.6);
    if (ids_[i] == selected_) pen = QPen(pal.color(QPalette::Highlight), 3.0);
    if (ids_[i] == highlighted_) {
      pen.setWidthF(ids_[i] == selected_ ? 4.0 : 3.5);
      if (ids_[i] != selected_) pen.setColor(QColor(46, 204, 113));
    }
    g->setPen(pen);
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, pen.color(), pen.color(), 4));
    g->setSelectable(QCP::stWhole);
    g->selectionDecorator()->setPen(pen);
    graphs_[i] = g;
  }
  plot_->replot();
}

QPoint ParallelCoordinates::pointOf(qint64 id, int axis) const {
  for (size_t i = 0; i < ids_.size(); ++i)
    if (ids_[i] == id && axis >= 0 && axis < int(lines_[i].size())) {
      double y = normalized(axis, lines_[i][size_t(axis)]);
      if (!std::isfinite(y)) return {-1, -1};
      return QPoint(int(std::lround(plot_->xAxis->coordToPixel(axis))),
                    int(std::lround(plot_->yAxis->coordToPixel(y))));
    }
  return {-1, -1};
}

qint64 ParallelCoordinates::lineAt(const QPoint& pos) const {
  double best = plot_->selectionTolerance();
  qint64 id = -1;
  for (size_t i = 0; i < graphs_.size(); ++i) {
    double d = graphs_[i]->selectTest(pos, false);
    if (d >= 0 && d <= best) {
      best = d;
      id = ids_[i];
    }
  }
  return id;
}

}  // namespace perceptra::widgets
