#include "widgets/colormap.h"

#include <QPainter>

#include <algorithm>
#include <cmath>

namespace perceptra::widgets {

namespace {

ValueRange resolve(ValueRange range, const float* data, std::size_t count) {
  return range.valid() ? range : valueRange(data, count);
}

}  // namespace

const std::vector<QRgb>& colormapTable(Colormap map) {
  // The engine's tables as QRgb, so GUI images and exported interpretation
  // images agree pixel for pixel.
  static const auto build = [](Colormap m) {
    std::vector<QRgb> table;
    for (const auto& c : colormap_table(m)) table.push_back(qRgb(c[0], c[1], c[2]));
    return table;
  };
  static const std::vector<QRgb> viridis = build(Colormap::Viridis);
  static const std::vector<QRgb> magma = build(Colormap::Magma);
  static const std::vector<QRgb> gray = build(Colormap::Gray);
  switch (map) {
    case Colormap::Viridis:
      return viridis;
    case Colormap::Magma:
      return magma;
    case Colormap::Gray:
      break;
  }
  return gray;
}

QRgb colormapRgb(Colormap map, double t) {
  if (!std::isfinite(t)) t = 0.0;
  t = std::clamp(t, 0.0, 1.0);
  // Linear between the two nearest of the 256 table entries.
  const std::vector<QRgb>& lut = colormapTable(map);
  const double pos = t * 255.0;
  const int i = std::min(int(pos), 254);
  const double f = pos - i;
  const QRgb a = lut[std::size_t(i)], b = lut[std::size_t(i) + 1];
  auto mix = [f](int x, int y) { return int(std::lround(x + (y - x) * f)); };
  return qRgb(mix(qRed(a), qRed(b)), mix(qGreen(a), qGreen(b)), mix(qBlue(a), qBlue(b)));
}

QString colormapName(Colormap map) { return QString::fromStdString(colormap_name(map)); }

ValueRange valueRange(const float* data, std::size_t count) {
  return value_range(data, count, NormOptions{});  // min/max of the finite values
}

QImage floatPlaneToImage(const float* data, int width, int height, Colormap map, ValueRange range) {
  if (!data || width <= 0 || height <= 0) return {};
  const std::size_t n = std::size_t(width) * std::size_t(height);
  const ValueRange r = resolve(range, data, n);
  const LinearLevels level(r);
  const std::vector<QRgb>& lut = colormapTable(map);
  QImage img(width, height, QImage::Format_RGB32);
  for (int y = 0; y < height; ++y) {
    auto* line = reinterpret_cast<QRgb*>(img.scanLine(y));
    const float* row = data + std::size_t(y) * std::size_t(width);
    for (int x = 0; x < width; ++x) line[x] = 0xff000000u | lut[std::size_t(level(row[x]))];
  }
  return img;
}

QImage floatPlaneToImage(const std::vector<float>& data, int width, int height, Colormap map, ValueRange range) {
  if (data.size() < std::size_t(std::max(width, 0)) * std::size_t(std::max(height, 0))) return {};
  return floatPlaneToImage(data.data(), width, height, map, range);
}

QImage rgbPlanesToImage(const float* data, int width, int height, ValueRange range) {
  if (!data || width <= 0 || height <= 0) return {};
  const std::size_t plane = std::size_t(width) * std::size_t(height);
  const ValueRange r = resolve(range, data, plane * 3);
  const LinearLevels level(r);
  QImage img(width, height, QImage::Format_RGB32);
  for (int y = 0; y < height; ++y) {
    auto* line = reinterpret_cast<QRgb*>(img.scanLine(y));
    for (int x = 0; x < width; ++x) {
      const std::size_t i = std::size_t(y) * std::size_t(width) + std::size_t(x);
      line[x] = qRgb(level(data[i]), level(data[plane + i]), level(data[2 * plane + i]));
    }
  }
  return img;
}

QImage tilePlanes(const float* data, int channels, int width, int height, Colormap map, int columns, int gap,
                  QColor gapColor) {
  if (!data || channels <= 0 || width <= 0 || height <= 0) return {};
  gap = std::max(gap, 0);
  if (columns <= 0) {
    // Near-square grid in pixels, not in tiles, so wide planes stack taller.
    const double aspect = double(height) / double(width);
    columns = std::max(1, int(std::ceil(std::sqrt(double(channels) * aspect))));
  }
  columns = std::min(columns, channels);
  const int rows = (channels + columns - 1) / columns;
  QImage grid(columns * width + (columns - 1) * gap, rows * height + (rows - 1) * gap, QImage::Format_RGB32);
  grid.fill(gapColor);
  const std::size_t plane = std::size_t(width) * std::size_t(height);
  const std::vector<QRgb>& lut = colormapTable(map);
  for (int c = 0; c < channels; ++c) {
    const float* p = data + plane * std::size_t(c);
    const ValueRange r = valueRange(p, plane);
    const LinearLevels level(r);
    const int ox = (c % columns) * (width + gap), oy = (c / columns) * (height + gap);
    for (int y = 0; y < height; ++y) {
      auto* line = reinterpret_cast<QRgb*>(grid.scanLine(oy + y)) + ox;
      const float* row = p + std::size_t(y) * std::size_t(width);
      for (int x = 0; x < width; ++x) line[x] = 0xff000000u | lut[std::size_t(level(row[x]))];
    }
  }
  return grid;
}

QImage overlayHeatmap(const QImage& image, const float* heat, int heatWidth, int heatHeight, double alpha,
                      Colormap map) {
  if (image.isNull()) return {};
  QImage base = image.convertToFormat(QImage::Format_RGB32);
  if (!heat || heatWidth <= 0 || heatHeight <= 0) return base;
  alpha = std::clamp(alpha, 0.0, 1.0);
  const std::size_t n = std::size_t(heatWidth) * std::size_t(heatHeight);
  const ValueRange r = valueRange(heat, n);
  const LinearLevels level(r);
  const std::vector<QRgb>& lut = colormapTable(map);
  // Heat as ARGB with opacity growing with the value: hot regions dominate,
  // cold regions leave the underlying image readable.
  QImage layer(heatWidth, heatHeight, QImage::Format_ARGB32);
  for (int y = 0; y < heatHeight; ++y) {
    auto* line = reinterpret_cast<QRgb*>(layer.scanLine(y));
    const float* row = heat + std::size_t(y) * std::size_t(heatWidth);
    for (int x = 0; x < heatWidth; ++x) {
      const int idx = level(row[x]);
      const QRgb c = lut[std::size_t(idx)];
      const int a = int(std::lround(255.0 * alpha * (0.25 + 0.75 * idx / 255.0)));
      line[x] = qRgba(qRed(c), qGreen(c), qBlue(c), a);
    }
  }
  const QImage scaled = layer.scaled(base.size(), Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
  QPainter painter(&base);
  painter.drawImage(0, 0, scaled);
  painter.end();
  return base;
}

}  // namespace perceptra::widgets
