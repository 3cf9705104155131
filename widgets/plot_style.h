#pragma once
// Shared look of every QCustomPlot in the studio, derived from a QPalette so
// plots follow the dark/light theme.
#include <QPalette>

class QCustomPlot;
class QCPAxis;
class QCPLegend;

namespace perceptra::widgets {

// Background, axes, ticks, grid, legend and fonts from `palette`.
void stylePlot(QCustomPlot* plot, const QPalette& palette);
void styleAxis(QCPAxis* axis, const QPalette& palette);
void styleLegend(QCPLegend* legend, const QPalette& palette);

}  // namespace perceptra::widgets
