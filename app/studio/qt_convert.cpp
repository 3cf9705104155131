#include "app/studio/qt_convert.h"

#include <cmath>

#include <qcustomplot.h>

#include "core/data/dataset.h"

namespace perceptra::studio {

QImage toQImage(const Image8& image) {
  if (image.w <= 0 || image.h <= 0) return {};
  const QImage::Format f = image.channels == 3 ? QImage::Format_RGB888 : QImage::Format_Grayscale8;
  QImage view(image.pixels.data(), image.w, image.h, image.w * image.channels, f);
  return view.copy();  // the QImage must own its pixels
}

QImage sampleImage(const Dataset& data, int64_t index) {
  const Shape s = data.sample_shape();
  std::vector<float> buf(static_cast<size_t>(s.numel()));
  data.image(index, buf.data());
  return toQImage(image_from_chw(buf.data(), int(s[0]), int(s[1]), int(s[2])));
}

QString shapeText(const Shape& shape) {
  QStringList parts;
  for (auto d : shape.dims()) parts << QString::number(d);
  return parts.join(QStringLiteral(" × "));
}

QStringList toQStringList(const std::vector<std::string>& v) {
  QStringList out;
  for (auto& s : v) out << QString::fromStdString(s);
  return out;
}

void useIntegerXTicks(QCustomPlot* plot) {
  auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  plot->xAxis->setTicker(ticker);
}

QString durationText(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return QStringLiteral("–");
  const long s = std::lround(seconds);
  if (s >= 3600) return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QChar('0'));
  if (s >= 60) return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QChar('0'));
  return QStringLiteral("%1 s").arg(s);
}

}  // namespace perceptra::studio
