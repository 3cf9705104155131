#include "core/interp/image.h"

#include <algorithm>
#include <cmath>

#include "core/interp/colormap_data.h"
#include "core/tensor/error.h"

namespace perceptra {

Image8::Image8(int width, int height, int chans, uint8_t fill)
    : w(width), h(height), channels(chans), pixels(static_cast<size_t>(width) * height * chans, fill) {
  PCHECK(width >= 0 && height >= 0 && (chans == 1 || chans == 3),
         "Image8: size must be non-negative and channels 1 or 3");
}

ColorMap colormap_from_name(const std::string& name) {
  if (name == "gray" || name == "grey") return ColorMap::Gray;
  if (name == "viridis") return ColorMap::Viridis;
  if (name == "magma") return ColorMap::Magma;
  throw InputError("colormap", "unknown colour map '" + name + "' (use gray, viridis or magma)");
}

std::string colormap_name(ColorMap map) {
  switch (map) {
    case ColorMap::Gray:
      return "gray";
    case ColorMap::Viridis:
      return "viridis";
    case ColorMap::Magma:
      return "magma";
  }
  return "gray";
}

int colormap_channels(ColorMap map) { return map == ColorMap::Gray ? 1 : 3; }

static uint8_t to_level(float t) {
  if (!(t > 0.f)) return 0;  // also NaN
  if (t >= 1.f) return 255;
  return static_cast<uint8_t>(std::lround(t * 255.f));
}

const ColormapTable& colormap_table(ColorMap map) {
  static const auto build = [](const uint8_t* rgb) {
    ColormapTable t{};
    for (int i = 0; i < 256; ++i)
      for (int c = 0; c < 3; ++c) t[i][c] = rgb ? rgb[3 * i + c] : static_cast<uint8_t>(i);
    return t;
  };
  static const ColormapTable gray = build(nullptr), viridis = build(colormap_data::viridis),
                             magma = build(colormap_data::magma);
  switch (map) {
    case ColorMap::Gray:
      break;
    case ColorMap::Viridis:
      return viridis;
    case ColorMap::Magma:
      return magma;
  }
  return gray;
}

std::array<uint8_t, 3> colormap_rgb(ColorMap map, float t) { return colormap_table(map)[to_level(t)]; }

// Writes the colour of t at p (1 or 3 channels).
static void put(uint8_t* p, int channels, ColorMap map, float t) {
  if (channels == 1) {
    *p = to_level(t);
    return;
  }
  auto c = colormap_rgb(map, t);
  p[0] = c[0];
  p[1] = c[1];
  p[2] = c[2];
}

float percentile(const float* x, size_t n, float percent) {
  std::vector<float> v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (std::isfinite(x[i])) v.push_back(x[i]);
  if (v.empty()) return 0.f;
  double pos = std::clamp(static_cast<double>(percent), 0.0, 100.0) / 100.0 * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(lo), v.end());
  float a = v[lo];
  if (hi == lo) return a;
  // The next order statistic is the minimum of the upper part.
  float b = *std::min_element(v.begin() + static_cast<std::ptrdiff_t>(lo) + 1, v.end());
  double frac = pos - static_cast<double>(lo);
  return static_cast<float>(a + (b - a) * frac);
}

ValueRange value_range(const float* x, size_t n, const NormOptions& options) {
  ValueRange r;
  if (options.mode == NormMode::Percentile) {
    r.lo = percentile(x, n, options.low_percent);
    r.hi = percentile(x, n, options.high_percent);
    return r;
  }
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    float v = x[i];
    if (!std::isfinite(v)) continue;
    if (!any) {
      r.lo = r.hi = v;
      any = true;
    } else {
      r.lo = std::min(r.lo, v);
      r.hi = std::max(r.hi, v);
    }
  }
  return r;
}

float normalize_value(float v, ValueRange r) {
  if (!std::isfinite(v)) return v > 0 ? 1.f : 0.f;  // +inf white, -inf and NaN black
  float span = r.hi - r.lo;
  float scale = std::max({std::fabs(r.hi), std::fabs(r.lo), 1e-30f});
  if (!(span > 1e-6f * scale)) {
    if (v > r.hi) return 1.f;
    if (v < r.lo) return 0.f;
    return v == 0.f ? 0.f : 0.5f;
  }
  return std::clamp((v - r.lo) / span, 0.f, 1.f);
}

int LinearLevels::operator()(float v) const {
  if (!std::isfinite(v)) return 0;
  const float x = (v - lo) * scale * 255.0f + 0.5f;
  // Bounded before the conversion: a value far outside an explicit range (or
  // NaN from an infinite scale) must not overflow the int.
  if (!(x > 0.0f)) return 0;
  return x >= 255.0f ? 255 : static_cast<int>(x);
}

int TiledImage::tile_at(int x, int y) const {
  for (size_t i = 0; i < tiles.size(); ++i) {
    const Tile& t = tiles[i];
    if (x >= t.x && x < t.x + t.w && y >= t.y && y < t.y + t.h) return static_cast<int>(i);
  }
  return -1;
}

void grid_layout(int count, int requested_columns, int* columns, int* rows) {
  if (count <= 0) {
    *columns = *rows = 0;
    return;
  }
  int c = requested_columns > 0 ? std::min(requested_columns, count)
                                : static_cast<int>(std::ceil(std::sqrt(static_cast<double>(count))));
  // sqrt rounding can overshoot by one for perfect squares.
  while (c > 1 && (c - 1) * (c - 1) >= count && requested_columns <= 0) --c;
  *columns = c;
  *rows = (count + c - 1) / c;
}

TiledImage tile_feature_maps(const float* x, int C, int H, int W, const TileOptions& o) {
  PCHECK(C >= 0 && H > 0 && W > 0, "tile_feature_maps: empty feature map");
  PCHECK(o.scale >= 1 && o.separator >= 0, "tile_feature_maps: scale must be >= 1, separator >= 0");
  int count = o.max_tiles > 0 ? std::min(C, o.max_tiles) : C;
  TiledImage out;
  grid_layout(count, o.columns, &out.columns, &out.rows);
  const int tw = W * o.scale, th = H * o.scale;
  const int channels = colormap_channels(o.colormap);
  const int width = out.columns > 0 ? out.columns * tw + (out.columns - 1) * o.separator : 0;
  const int height = out.rows > 0 ? out.rows * th + (out.rows - 1) * o.separator : 0;
  out.image = Image8(width, height, channels, o.separator_value);
  const size_t plane = static_cast<size_t>(H) * W;

  ValueRange global;
  if (o.norm.scope == NormScope::Global) global = value_range(x, plane * count, o.norm);

  out.tiles.reserve(static_cast<size_t>(count));
  for (int c = 0; c < count; ++c) {
    const float* src = x + plane * c;
    Tile t;
    t.index = c;
    t.x = (c % out.columns) * (tw + o.separator);
    t.y = (c / out.columns) * (th + o.separator);
    t.w = tw;
    t.h = th;
    t.range = o.norm.scope == NormScope::Global ? global : value_range(src, plane, o.norm);
    for (int i = 0; i < H; ++i)
      for (int j = 0; j < W; ++j) {
        float v = normalize_value(src[static_cast<size_t>(i) * W + j], t.range);
        for (int dy = 0; dy < o.scale; ++dy)
          for (int dx = 0; dx < o.scale; ++dx)
            put(out.image.at(t.x + j * o.scale + dx, t.y + i * o.scale + dy), channels, o.colormap, v);
      }
    out.tiles.push_back(t);
  }
  return out;
}

TiledImage dense_strip(const float* x, int n, const StripOptions& o) {
  PCHECK(n >= 0 && o.cell_w >= 1 && o.cell_h >= 1 && o.separator >= 0, "dense_strip: cells must be at least 1x1");
  TiledImage out;
  if (n == 0) return out;
  out.columns = o.per_row > 0 ? std::min(o.per_row, n) : n;
  out.rows = (n + out.columns - 1) / out.columns;
  const int channels = colormap_channels(o.colormap);
  out.image = Image8(out.columns * o.cell_w + (out.columns - 1) * o.separator,
                     out.rows * o.cell_h + (out.rows - 1) * o.separator, channels, o.separator_value);
  ValueRange r = value_range(x, static_cast<size_t>(n), o.norm);
  out.tiles.reserve(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    Tile t;
    t.index = k;
    t.x = (k % out.columns) * (o.cell_w + o.separator);
    t.y = (k / out.columns) * (o.cell_h + o.separator);
    t.w = o.cell_w;
    t.h = o.cell_h;
    t.range = r;
    float v = normalize_value(x[k], r);
    for (int dy = 0; dy < t.h; ++dy)
      for (int dx = 0; dx < t.w; ++dx) put(out.image.at(t.x + dx, t.y + dy), channels, o.colormap, v);
    out.tiles.push_back(t);
  }
  return out;
}

Image8 image_from_chw(const float* x, int C, int H, int W) {
  PCHECK(C >= 1 && H > 0 && W > 0, "image_from_chw: empty image");
  const int channels = C == 3 ? 3 : 1;
  Image8 img(W, H, channels);
  const size_t plane = static_cast<size_t>(H) * W;
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j)
      for (int c = 0; c < channels; ++c) img.at(j, i)[c] = to_level(x[plane * c + static_cast<size_t>(i) * W + j]);
  return img;
}

Image8 overlay_heatmap(const Image8& base, const std::vector<float>& heat, ColorMap map, float alpha) {
  PCHECK(heat.size() == static_cast<size_t>(base.w) * base.h,
         "overlay_heatmap: heat map has " + std::to_string(heat.size()) + " values for a " + std::to_string(base.w) +
             "x" + std::to_string(base.h) + " image");
  Image8 out(base.w, base.h, 3);
  for (int y = 0; y < base.h; ++y)
    for (int x = 0; x < base.w; ++x) {
      float t = heat[static_cast<size_t>(y) * base.w + x];
      if (!(t > 0.f)) t = 0.f;
      t = std::min(t, 1.f);
      auto c = colormap_rgb(map, t);
      const uint8_t* b = base.at(x, y);
      uint8_t* o = out.at(x, y);
      float a = alpha * t;
      for (int k = 0; k < 3; ++k) {
        float bv = b[base.channels == 3 ? k : 0];
        o[k] = static_cast<uint8_t>(std::lround((1.f - a) * bv + a * c[k]));
      }
    }
  return out;
}

}  // namespace perceptra
