#pragma once
// The size image folders are decoded to and how an image of another shape
// gets there (fastai's Resize methods):
//   squish - stretch the whole image to HxW (aspect ratio not kept);
//   crop   - scale so the image covers HxW, then take the centre;
//   pad    - scale so the whole image fits in HxW, centred, black borders.
// Stored in TrainConfig and in the model file, so eval/predict on a model
// prepare images exactly as training did.
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace perceptra {

enum class ResizePolicy { squish, crop, pad };

// "squish" | "crop" | "pad" (also "centre-crop"/"center-crop", "letterbox").
// Throws InputError(what, ...) listing the choices.
ResizePolicy parse_resize_policy(const std::string& text, const std::string& what = "resize");
const char* resize_policy_name(ResizePolicy p);

struct ImageSize {
  int height = 0, width = 0;  // 0x0 = automatic (see load_image_folder)
  bool automatic() const { return height == 0 && width == 0; }
  std::string str() const;  // "224x224", or "auto"
};

// "224" (square), "224x160" (height x width) or "auto". Sizes must be in
// [1, kMaxImageSide]. Throws InputError(what, ...).
ImageSize parse_image_size(const std::string& text, const std::string& what = "image size");
constexpr int kMaxImageSide = 4096;

// The default size of a folder of photos (large or differently sized images).
constexpr int kDefaultPhotoSide = 224;

}  // namespace perceptra
