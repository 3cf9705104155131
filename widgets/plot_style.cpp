#include "widgets/plot_style.h"

#include <qcustomplot.h>

#include "widgets/theme.h"

namespace perceptra::widgets {

namespace {
QColor blend(const QColor& a, const QColor& b, double t) {
  return QColor::fromRgbF(float(a.redF() + (b.redF() - a.redF()) * t),
                          float(a.greenF() + (b.greenF() - a.greenF()) * t),
                          float(a.blueF() + (b.blueF() - a.blueF()) * t));
}
}  // namespace

void styleAxis(QCPAxis* axis, const QPalette& palette) {
  const QColor text = palette.color(QPalette::WindowText);
  const QColor base = palette.color(QPalette::Base);
  const QColor tick = blend(base, text, 0.45);
  const QColor label = blend(base, text, 0.75);
  const bool dark = isDarkPalette(palette);
  axis->setBasePen(QPen(tick, 1));
  axis->setTickPen(QPen(tick, 1));
  axis->setSubTickPen(QPen(tick, 1));
  axis->setTickLength(0, 4);
  axis->setSubTickLength(0, 2);
  axis->setTickLabelColor(label);
  axis->setLabelColor(label);
  QFont f = axis->parentPlot()->font();
  f.setPointSizeF(f.pointSizeF() > 0 ? f.pointSizeF() * 0.9 : 8.5);
  axis->setTickLabelFont(f);
  axis->setLabelFont(f);
  axis->setSelectedTickLabelFont(f);
  axis->setPadding(6);
  axis->setLabelPadding(4);
  axis->grid()->setPen(QPen(blend(base, text, dark ? 0.13 : 0.12), 1, Qt::SolidLine));
  axis->grid()->setSubGridPen(QPen(blend(base, text, 0.06), 1, Qt::DotLine));
  axis->grid()->setZeroLinePen(Qt::NoPen);
}

void styleLegend(QCPLegend* legend, const QPalette& palette) {
  const QColor text = palette.color(QPalette::WindowText);
  QColor bg = palette.color(QPalette::Base);
  bg.setAlpha(215);
  legend->setBrush(QBrush(bg));
  legend->setBorderPen(QPen(blend(palette.color(QPalette::Base), text, 0.25), 1));
  legend->setTextColor(text);
  QFont f = legend->parentPlot()->font();
  f.setPointSizeF(f.pointSizeF() > 0 ? f.pointSizeF() * 0.9 : 8.5);
  legend->setFont(f);
  legend->setIconSize(18, 10);
  legend->setMargins(QMargins(6, 4, 6, 4));
  legend->setRowSpacing(0);
}

void placeLegendAbove(QCustomPlot* plot) {
  QCPLegend* legend = plot->legend;
  if (plot->axisRect()->insetLayout()->elements(false).contains(legend)) plot->axisRect()->insetLayout()->take(legend);
  auto* row = new QCPLayoutGrid;
  plot->plotLayout()->insertRow(0);
  plot->plotLayout()->addElement(0, 0, row);
  plot->plotLayout()->setRowStretchFactor(0, 0.001);
  plot->plotLayout()->setRowSpacing(0);
  row->addElement(0, 0, legend);
  // Spacer (an empty grid would have zero maximum width and push the space
  // back to the legend): the legend keeps its natural width, left-aligned.
  row->addElement(0, 1, new QCPLayoutElement(plot));
  row->setColumnStretchFactor(0, 0.001);
  row->setColumnStretchFactor(1, 1.0);
  legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  legend->setWrap(5);
  legend->setVisible(true);
}

void setLegendRowVisible(QCustomPlot* plot, bool visible) {
  plot->legend->setVisible(visible);
  // An invisible element still reserves its minimum size in a grid.
  plot->legend->setMaximumSize(visible ? QSize(QWIDGETSIZE_MAX, QWIDGETSIZE_MAX) : QSize(0, 0));
  plot->legend->setMinimumSize(0, 0);
}

void stylePlot(QCustomPlot* plot, const QPalette& palette) {
  plot->setBackground(QBrush(palette.color(QPalette::Base)));
  plot->axisRect()->setBackground(QBrush(palette.color(QPalette::Base)));
  for (QCPAxis* axis : plot->axisRect()->axes()) styleAxis(axis, palette);
  styleLegend(plot->legend, palette);
  if (plot->legend->layout() != plot->axisRect()->insetLayout()) {  // legend row above the plot
    plot->legend->setBorderPen(Qt::NoPen);
    plot->legend->setBrush(Qt::NoBrush);
    plot->legend->setMargins(QMargins(6, 6, 6, 0));
  }
  // Selection rectangle used for box zoom.
  if (plot->selectionRect()) {
    QColor hl = palette.color(QPalette::Highlight);
    plot->selectionRect()->setPen(QPen(hl, 1, Qt::DashLine));
    hl.setAlpha(40);
    plot->selectionRect()->setBrush(QBrush(hl));
  }
}

}  // namespace perceptra::widgets
