#pragma once
// Image folders: one sub-folder per class (names sorted = class indices),
// images decoded with OpenCV, converted to a channel count and resized.
// Non-image files are skipped and counted; unreadable images are skipped
// with a warning naming the file (when decoded up front) or raise an
// InputError naming the file (when decoded lazily during training).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace perceptra {

struct ImageFolderOptions {
  int channels = 0;  // 1 or 3; 0 = auto (3 if any image is colour, else 1)
  int height = 0;    // 0 = the first image's size
  int width = 0;
  // Decode everything up front when N*C*H*W bytes fit; otherwise decode
  // each image when it is read (the loader's worker thread does that).
  int64_t memory_budget_bytes = int64_t(512) << 20;
};

struct ImageFolderReport {
  int64_t images = 0;
  int64_t skipped_non_image = 0;   // files that are not images (by extension)
  int64_t skipped_unreadable = 0;  // images OpenCV could not decode
  int64_t grayscale = 0, colour = 0;  // of the images inspected
  bool lazy = false;
  std::vector<std::string> warnings;  // one line each, naming the file
};

bool is_image_file_name(const std::string& name);  // by extension, case-insensitive

// Throws InputError naming the folder when it is missing, has no class
// sub-folders, has an empty class folder, or holds no images at all.
std::shared_ptr<Dataset> load_image_folder(const std::string& root,
                                           const ImageFolderOptions& options = {},
                                           ImageFolderReport* report = nullptr);

// Decodes one image file to [C,H,W] floats in [0,1] (RGB order for C=3).
// Throws InputError naming the file when it cannot be read or decoded.
void decode_image_file(const std::string& path, int channels, int height, int width, float* out);

}  // namespace perceptra
