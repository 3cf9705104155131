#pragma once
// Plain 8-bit images and the float-to-pixel conversions the views need:
// value normalisation (min/max or robust percentiles), colour maps, tiling
// of feature maps into a labelled grid, dense layers as strips. No Qt: the
// GUI wraps Image8::pixels in a QImage (Grayscale8 or RGB888) without
// conversion.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace perceptra {

// Row-major, channels interleaved (RGBRGB...), no row padding.
// channels is 1 (grey) or 3 (RGB).
struct Image8 {
  int w = 0, h = 0, channels = 1;
  std::vector<uint8_t> pixels;  // w * h * channels

  Image8() = default;
  Image8(int width, int height, int chans, uint8_t fill = 0);
  uint8_t* at(int x, int y) { return pixels.data() + (static_cast<size_t>(y) * w + x) * channels; }
  const uint8_t* at(int x, int y) const { return pixels.data() + (static_cast<size_t>(y) * w + x) * channels; }
};
using GrayImage = Image8;  // channels == 1
using RgbImage = Image8;   // channels == 3

// The project's one colour-map pipeline: the studio's Qt views
// (widgets/colormap) use these maps, ranges and level mappings and only wrap
// the pixels.
// Gray keeps images single-channel; the others produce RGB.
enum class ColorMap { Gray, Viridis, Magma };
// "gray" | "viridis" | "magma"; throws InputError("colormap", ...) otherwise.
ColorMap colormap_from_name(const std::string& name);
std::string colormap_name(ColorMap map);
// Colour of t in [0,1] (clamped; NaN maps to 0).
std::array<uint8_t, 3> colormap_rgb(ColorMap map, float t);
// The map's 256 colours, index 0 = t 0 ... 255 = t 1 (matplotlib's tables
// for viridis and magma, black -> white for gray).
using ColormapTable = std::array<std::array<uint8_t, 3>, 256>;
const ColormapTable& colormap_table(ColorMap map);
int colormap_channels(ColorMap map);

enum class NormMode { MinMax, Percentile };
// PerChannel: each channel (tile) stretched on its own; Global: one range for
// the whole layer, so channels can be compared by brightness.
enum class NormScope { PerChannel, Global };
struct NormOptions {
  NormMode mode = NormMode::MinMax;
  NormScope scope = NormScope::PerChannel;
  float low_percent = 1.f, high_percent = 99.f;  // Percentile mode
};

// The range [lo, hi] values are stretched over. Non-finite values are ignored.
struct ValueRange {
  float lo = 0, hi = 0;
  bool valid() const { return hi > lo; }  // not flat, not empty
};
ValueRange value_range(const float* x, size_t n, const NormOptions& options);
// Linear percentile of the finite values (numpy's default interpolation).
float percentile(const float* x, size_t n, float percent);
// Maps v into [0,1] over r, clamped. A flat range (hi - lo tiny) has no
// contrast to show: values equal to 0 map to 0 (a dead ReLU channel stays
// black), other values inside it to 0.5, values above/below it to 1/0.
// Never NaN.
float normalize_value(float v, ValueRange r);

// The plain stretch the Qt views draw float planes with: the 0..255 level of
// v over r (clamped, rounded half up); a flat or empty range and non-finite
// values give 0. (normalize_value is the activation views' variant, with the
// flat-range rules above.)
struct LinearLevels {
  explicit LinearLevels(ValueRange r) : lo(r.lo), scale(r.valid() ? 1.f / (r.hi - r.lo) : 0.f) {}
  int operator()(float v) const;
  float lo, scale;
};

// One cell of a tiled image: which channel (or unit) it shows and where, in
// output pixels, with the value range used, for GUI labels and hover.
struct Tile {
  int index = 0;
  int x = 0, y = 0, w = 0, h = 0;
  ValueRange range;
};
struct TiledImage {
  Image8 image;
  std::vector<Tile> tiles;
  int columns = 0, rows = 0;
  // Index of the tile under pixel (x, y), or -1 (separator / outside).
  int tile_at(int x, int y) const;
};

struct TileOptions {
  ColorMap colormap = ColorMap::Gray;
  NormOptions norm;
  int scale = 1;      // each value drawn as scale x scale pixels
  int separator = 1;  // pixels between tiles
  uint8_t separator_value = 128;
  int columns = 0;    // 0: near-square, ceil(sqrt(count))
  int max_tiles = 0;  // 0: all channels
};

// Near-square grid for count tiles: columns = ceil(sqrt(count)) (or the
// requested number), rows = ceil(count / columns).
void grid_layout(int count, int requested_columns, int* columns, int* rows);

// One sample's feature maps x [C, H, W] as a grid of C tiles.
TiledImage tile_feature_maps(const float* x, int C, int H, int W, const TileOptions& options);

// A dense layer's n values as a strip of cells (cell_w x cell_h each),
// per_row cells per row (0: all in one row). Values share one range
// (NormScope is ignored: a single value has no range of its own).
struct StripOptions {
  ColorMap colormap = ColorMap::Viridis;
  NormOptions norm;
  int cell_w = 4, cell_h = 16;
  int per_row = 0;
  int separator = 0;
  uint8_t separator_value = 128;
};
TiledImage dense_strip(const float* x, int n, const StripOptions& options);

// An input image [C, H, W] with values in [0,1] (dataset images before
// normalisation) as grey (C = 1) or RGB (C = 3); other C: the first channel.
Image8 image_from_chw(const float* x, int C, int H, int W);

// Blends a heat map [h*w] in [0,1] (same size as base) coloured by map over
// base: out = (1 - alpha * t) * base + alpha * t * colour, so cold regions
// keep the original image. Result is RGB.
Image8 overlay_heatmap(const Image8& base, const std::vector<float>& heat, ColorMap map, float alpha = 0.6f);

}  // namespace perceptra
