#pragma once
// Limits on what a data file may make us allocate, checked before the
// allocation: decompressed bytes of a gzip file and image dimensions read
// from an image's header (a 426 KB PNG can declare 20000x20000 pixels).
// Defaults are far above real datasets; PERCEPTRA_MAX_INFLATED_MB and
// PERCEPTRA_MAX_IMAGE_PIXELS raise or lower them (named in every error).
#include <cstddef>
#include <cstdint>
#include <string>

namespace perceptra::data {

struct InputLimits {
  uint64_t max_inflated_bytes = uint64_t(512) << 20;  // one decompressed file
  int64_t max_image_pixels = int64_t(8192) * 8192;    // width * height of one image
};

// Process-wide limits: the defaults with the environment applied on first use.
InputLimits& input_limits();

struct ImageSize {
  int64_t width = 0, height = 0;
};
// Width and height from the header of a PNG, JPEG, BMP, GIF, WebP or PNM
// file, without decoding; false when the format is not recognised (the
// decoder then decides).
bool peek_image_size(const uint8_t* data, size_t size, ImageSize* out);
// Throws InputError(path, ...) when the header declares more pixels than
// input_limits().max_image_pixels.
void check_image_size(const std::string& path, const uint8_t* data, size_t size);

}  // namespace perceptra::data
