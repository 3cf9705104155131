#pragma once
// Float-plane -> QImage conversions used by the heat maps, activation views
// and Grad-CAM overlays. The maps, value ranges and level mapping are the
// engine's (core/interp/image.h); this file only wraps them for Qt.
#include <QColor>
#include <QImage>
#include <QString>

#include <cstddef>
#include <vector>

#include "core/interp/image.h"

namespace perceptra::widgets {

using Colormap = ::perceptra::ColorMap;

// Colour at t in [0,1] (clamped; NaN maps to 0). Viridis/Magma follow
// matplotlib's maps (interpolated from 10 anchors), Gray is black -> white.
QRgb colormapRgb(Colormap map, double t);
inline QColor colormapColor(Colormap map, double t) { return QColor::fromRgb(colormapRgb(map, t)); }
// 256-entry lookup table of the map (index 0 = t 0, 255 = t 1).
const std::vector<QRgb>& colormapTable(Colormap map);
QString colormapName(Colormap map);

// Normalisation of a float plane. When lo >= hi the plane's own min/max are
// used (a constant plane maps to 0: LinearLevels).
using ValueRange = ::perceptra::ValueRange;
// Finite min/max of data[0..count) (non-finite values are skipped).
ValueRange valueRange(const float* data, std::size_t count);

// H*W row-major floats -> RGB32 image through the colour map.
QImage floatPlaneToImage(const float* data, int width, int height, Colormap map = Colormap::Viridis,
                         ValueRange range = {});
QImage floatPlaneToImage(const std::vector<float>& data, int width, int height, Colormap map = Colormap::Viridis,
                         ValueRange range = {});

// Channel-planar RGB (3*H*W floats, as an NCHW image tensor) -> RGB32, all
// three channels normalised together by `range` (or their joint min/max).
QImage rgbPlanesToImage(const float* data, int width, int height, ValueRange range = {});

// Tiles C planes of H*W floats into one grid image (`columns` = 0 picks a
// near-square grid), each plane normalised on its own, separated by `gap`
// pixels of `gapColor`. Used for per-layer activations and first-layer filters.
QImage tilePlanes(const float* data, int channels, int width, int height, Colormap map = Colormap::Viridis,
                  int columns = 0, int gap = 1, QColor gapColor = QColor(20, 20, 24));

// Grad-CAM style overlay: `heat` (H*W floats, normalised by min/max, any
// size; scaled smoothly to the image size) coloured with `map` and blended
// over `image` with opacity alpha*t, so cold areas keep the image visible.
QImage overlayHeatmap(const QImage& image, const float* heat, int heatWidth, int heatHeight, double alpha = 0.5,
                      Colormap map = Colormap::Magma);

}  // namespace perceptra::widgets
