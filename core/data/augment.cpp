#include "core/data/augment.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/tensor/error.h"

namespace perceptra {

nlohmann::json AugmentOptions::to_json() const {
  return {{"resized_crop", resized_crop},
          {"resized_crop_scale", {rrc_min_scale, rrc_max_scale}},
          {"resized_crop_ratio", {rrc_min_ratio, rrc_max_ratio}},
          {"crop", crop},
          {"crop_padding", crop_padding},
          {"hflip", hflip},
          {"rotate", rotate},
          {"max_degrees", max_degrees},
          {"color", color},
          {"brightness", brightness},
          {"contrast", contrast}};
}

AugmentOptions AugmentOptions::from_json(const nlohmann::json& j) {
  AugmentOptions a;
  try {
    a.resized_crop = j.value("resized_crop", a.resized_crop);
    if (j.contains("resized_crop_scale")) {
      auto v = j.at("resized_crop_scale").get<std::vector<float>>();
      if (v.size() != 2) throw InputError("augmentation", "resized_crop_scale must be [min, max]");
      a.rrc_min_scale = v[0];
      a.rrc_max_scale = v[1];
    }
    if (j.contains("resized_crop_ratio")) {
      auto v = j.at("resized_crop_ratio").get<std::vector<float>>();
      if (v.size() != 2) throw InputError("augmentation", "resized_crop_ratio must be [min, max]");
      a.rrc_min_ratio = v[0];
      a.rrc_max_ratio = v[1];
    }
    a.crop = j.value("crop", a.crop);
    a.crop_padding = j.value("crop_padding", a.crop_padding);
    a.hflip = j.value("hflip", a.hflip);
    a.rotate = j.value("rotate", a.rotate);
    a.max_degrees = j.value("max_degrees", a.max_degrees);
    a.color = j.value("color", a.color);
    a.brightness = j.value("brightness", a.brightness);
    a.contrast = j.value("contrast", a.contrast);
  } catch (const nlohmann::json::exception& e) {
    throw InputError("augmentation", std::string("malformed options: ") + e.what());
  }
  if (!(a.rrc_min_scale > 0 && a.rrc_min_scale <= a.rrc_max_scale && a.rrc_max_scale <= 1))
    throw InputError("augmentation", "resized_crop_scale must satisfy 0 < min <= max <= 1");
  if (!(a.rrc_min_ratio > 0 && a.rrc_min_ratio <= a.rrc_max_ratio && a.rrc_max_ratio <= 100))
    throw InputError("augmentation", "resized_crop_ratio must satisfy 0 < min <= max <= 100");
  if (a.crop_padding < 0 || a.crop_padding > 64) throw InputError("augmentation", "crop_padding must be in [0, 64]");
  if (a.max_degrees < 0 || a.max_degrees > 180) throw InputError("augmentation", "max_degrees must be in [0, 180]");
  if (a.brightness < 0 || a.brightness > 1) throw InputError("augmentation", "brightness must be in [0, 1]");
  if (a.contrast < 0 || a.contrast > 1) throw InputError("augmentation", "contrast must be in [0, 1]");
  return a;
}

Rng augment_rng(uint64_t seed, int64_t epoch, int64_t sample_index) {
  // Two forks: epochs and samples get independent streams.
  return Rng(seed ^ 0xA5A5F00DULL).fork(uint64_t(epoch)).fork(uint64_t(sample_index));
}

CropBox random_resized_crop_box(int64_t H, int64_t W, const AugmentOptions& o, Rng& rng) {
  const double area = double(H) * double(W);
  const double lr0 = std::log(double(o.rrc_min_ratio)), lr1 = std::log(double(o.rrc_max_ratio));
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * rng.uniform(o.rrc_min_scale, o.rrc_max_scale);
    const double ratio = std::exp(lr0 + (lr1 - lr0) * double(rng.uniform()));
    const int64_t w = std::llround(std::sqrt(target * ratio));
    const int64_t h = std::llround(std::sqrt(target / ratio));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      CropBox b;
      b.y = int64_t(rng.below(uint64_t(H - h + 1)));
      b.x = int64_t(rng.below(uint64_t(W - w + 1)));
      b.width = w;
      b.height = h;
      return b;
    }
  }
  // Fallback: the centre, with the ratio clamped to the allowed range.
  CropBox b;
  const double in_ratio = double(W) / double(H);
  b.width = W;
  b.height = H;
  if (in_ratio < o.rrc_min_ratio)
    b.height = std::clamp<int64_t>(std::llround(double(W) / o.rrc_min_ratio), 1, H);
  else if (in_ratio > o.rrc_max_ratio)
    b.width = std::clamp<int64_t>(std::llround(double(H) * o.rrc_max_ratio), 1, W);
  b.y = (H - b.height) / 2;
  b.x = (W - b.width) / 2;
  return b;
}

void augment_image(float* img, int64_t C, int64_t H, int64_t W, const AugmentOptions& o, const NormStats& norm,
                   Rng& rng, std::vector<float>& scratch) {
  if (!o.any()) return;
  const int64_t plane = H * W;
  // Normalised values of raw 0 (fill) and raw 1 (clamp bound) per channel.
  auto lo = [&](int64_t c) { return norm.empty() ? 0.f : (0.f - norm.mean[size_t(c)]) / norm.std[size_t(c)]; };
  auto hi = [&](int64_t c) { return norm.empty() ? 1.f : (1.f - norm.mean[size_t(c)]) / norm.std[size_t(c)]; };

  if (o.resized_crop) {
    const CropBox b = random_resized_crop_box(H, W, o, rng);
    if (b.width != W || b.height != H) {
      // Bilinear (half-pixel centres, as torchvision without antialiasing).
      scratch.assign(img, img + C * plane);
      for (int64_t c = 0; c < C; ++c) {
        cv::Mat src(int(H), int(W), CV_32F, scratch.data() + c * plane);
        cv::Mat dst(int(H), int(W), CV_32F, img + c * plane);
        cv::resize(src(cv::Rect(int(b.x), int(b.y), int(b.width), int(b.height))), dst, cv::Size(int(W), int(H)), 0, 0,
                   cv::INTER_LINEAR);
      }
    }
  }

  // Geometry: one resampling for shift (crop with padding), flip and rotation.
  int64_t dx = 0, dy = 0;
  if (o.crop && o.crop_padding > 0) {
    const int64_t span = 2 * int64_t(o.crop_padding) + 1;
    dx = int64_t(rng.below(uint64_t(span))) - o.crop_padding;
    dy = int64_t(rng.below(uint64_t(span))) - o.crop_padding;
  }
  const bool flip = o.hflip && rng.uniform() < 0.5f;
  float angle = 0.f;
  if (o.rotate && o.max_degrees > 0) angle = rng.uniform(-o.max_degrees, o.max_degrees);

  if (dx != 0 || dy != 0 || flip || angle != 0.f) {
    scratch.assign(img, img + C * plane);
    const float* src = scratch.data();
    if (angle == 0.f) {
      // Integer shift + flip: exact copies.
      for (int64_t c = 0; c < C; ++c) {
        const float fill = lo(c);
        float* out = img + c * plane;
        const float* s = src + c * plane;
        for (int64_t y = 0; y < H; ++y) {
          const int64_t sy = y - dy;
          for (int64_t x = 0; x < W; ++x) {
            const int64_t xx = flip ? W - 1 - x : x;
            const int64_t sx = xx - dx;
            out[y * W + x] = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? s[sy * W + sx] : fill;
          }
        }
      }
    } else {
      const float rad = angle * 3.14159265358979f / 180.f;
      const float cs = std::cos(rad), sn = std::sin(rad);
      const float cx = 0.5f * float(W - 1), cy = 0.5f * float(H - 1);
      for (int64_t y = 0; y < H; ++y) {
        for (int64_t x = 0; x < W; ++x) {
          // Output -> source: undo shift, undo rotation, undo flip.
          const float ox = float(x - dx) - cx, oy = float(y - dy) - cy;
          float sxf = cs * ox + sn * oy + cx;
          const float syf = -sn * ox + cs * oy + cy;
          if (flip) sxf = float(W - 1) - sxf;
          const int64_t x0 = int64_t(std::floor(sxf)), y0 = int64_t(std::floor(syf));
          const float fx = sxf - float(x0), fy = syf - float(y0);
          for (int64_t c = 0; c < C; ++c) {
            const float fill = lo(c);
            const float* s = src + c * plane;
            auto at = [&](int64_t yy, int64_t xx) {
              return (yy >= 0 && yy < H && xx >= 0 && xx < W) ? s[yy * W + xx] : fill;
            };
            const float v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
                            fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
            img[c * plane + y * W + x] = v;
          }
        }
      }
    }
  }

  if (o.color) {
    const float b = o.brightness > 0 ? rng.uniform(-o.brightness, o.brightness) : 0.f;
    const float f = o.contrast > 0 ? rng.uniform(1.f - o.contrast, 1.f + o.contrast) : 1.f;
    for (int64_t c = 0; c < C; ++c) {
      float* p = img + c * plane;
      double sum = 0;
      for (int64_t i = 0; i < plane; ++i) sum += p[i];
      const float m = float(sum / double(plane));
      // Brightness is an offset in pixel units: divide by std when normalised.
      const float off = norm.empty() ? b : b / norm.std[size_t(c)];
      const float l = lo(c), h = hi(c);
      for (int64_t i = 0; i < plane; ++i) p[i] = std::clamp((p[i] - m) * f + m + off, l, h);
    }
  }
}

}  // namespace perceptra
