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
// Moves the legend out of the axis rect into a compact, left-aligned row
// above it (entries side by side), so it never hides data.
void placeLegendAbove(QCustomPlot* plot);
// Shows or hides a legend placed by placeLegendAbove, collapsing its row.
void setLegendRowVisible(QCustomPlot* plot, bool visible);

}  // namespace perceptra::widgets
