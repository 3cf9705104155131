#pragma once
// Small conversions between engine value types and Qt ones.
#include <QImage>
#include <QString>
#include <QStringList>

#include <string>
#include <vector>

#include "core/interp/image.h"
#include "core/tensor/shape.h"

class QCustomPlot;

namespace perceptra {
class Dataset;
}

namespace perceptra::studio {

// A deep copy of an Image8 as a QImage (Grayscale8 or RGB888).
QImage toQImage(const Image8& image);
// One dataset sample (values in [0,1]) as a QImage.
QImage sampleImage(const Dataset& data, int64_t index);
// "32 × 28 × 28"
QString shapeText(const Shape& shape);
QStringList toQStringList(const std::vector<std::string>& v);
inline QString qs(const std::string& s) { return QString::fromStdString(s); }
// Integer ticks (1, 2, 3, ...) on a plot's x axis, for per-epoch series.
void useIntegerXTicks(QCustomPlot* plot);
// "1 h 02 min", "3 min 05 s", "12 s"
QString durationText(double seconds);

}  // namespace perceptra::studio
