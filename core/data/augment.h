#pragma once
// Training-time augmentation, each transform switchable with parameters.
// Works on normalised [C,H,W] floats (so the loader's cache is used as is);
// pixels coming from outside the image are the normalised value of black.
// Deterministic: the random stream of a sample depends only on (seed,
// epoch, sample index), never on threads or batch order.
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/data/normalize.h"
#include "core/tensor/random.h"

namespace perceptra {

struct AugmentOptions {
  // Random-resized crop (torchvision's RandomResizedCrop): a region of
  // scale (area fraction) and aspect ratio drawn at random, resampled
  // bilinearly to the full image size. Applied first. The region comes from
  // the cached image at the training size, so a small region is enlarged
  // from fewer pixels than a crop of the original photo would have.
  bool resized_crop = false;
  float rrc_min_scale = 0.08f, rrc_max_scale = 1.f;
  float rrc_min_ratio = 3.f / 4.f, rrc_max_ratio = 4.f / 3.f;
  bool crop = false;     // random crop after zero padding
  int crop_padding = 4;  // pixels on each side
  bool hflip = false;    // horizontal flip with probability 1/2
  bool rotate = false;   // small rotation, bilinear
  float max_degrees = 10.f;
  bool color = false;       // brightness/contrast jitter
  float brightness = 0.2f;  // added offset in [-b, b] (pixel range 0..1)
  float contrast = 0.2f;    // factor in [1-c, 1+c] around the image mean

  bool any() const { return resized_crop || crop || hflip || rotate || color; }
  nlohmann::json to_json() const;
  static AugmentOptions from_json(const nlohmann::json& j);  // throws InputError
};

// The per-sample stream (what the loader uses).
Rng augment_rng(uint64_t seed, int64_t epoch, int64_t sample_index);

// The region a random-resized crop takes from an H x W image (torchvision's
// RandomResizedCrop.get_params: 10 tries, then a centre crop of clamped ratio).
struct CropBox {
  int64_t x = 0, y = 0, width = 0, height = 0;
};
CropBox random_resized_crop_box(int64_t height, int64_t width, const AugmentOptions& options, Rng& rng);

// Transforms one image in place. `norm` is how `image` was normalised (empty
// = not normalised, values in [0,1]). `scratch` is reused between calls.
void augment_image(float* image, int64_t channels, int64_t height, int64_t width, const AugmentOptions& options,
                   const NormStats& norm, Rng& rng, std::vector<float>& scratch);

}  // namespace perceptra
