#pragma once
// Decoding one image file to 8-bit pixels of a target channel count and
// size with a resize policy. Internal to core/data (and its tests): the one
// place that includes OpenCV's image codecs for image folders and predict.
#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "core/data/image_size.h"

namespace perceptra {

// Decodes `bytes` honouring the EXIF orientation; 8-bit, 1 channel (grey) or
// 3 (BGR), alpha dropped. jpeg_scale_denom 2, 4 or 8 decodes a JPEG at that
// fraction of its size (libjpeg's DCT scaling; decode_resized picks the
// largest that still leaves the target's pixels). Empty Mat and *why set
// when it cannot be decoded.
cv::Mat decode_image_bytes(const std::vector<uint8_t>& bytes, int channels, std::string* why, int jpeg_scale_denom = 1);

// Resizes an 8-bit grey or BGR image to height x width with `policy`.
// Shrinking uses area averaging, enlarging bilinear interpolation.
cv::Mat resize_with_policy(const cv::Mat& image, int height, int width, ResizePolicy policy);

// Reads and decodes `path` and writes [C,H,W] u8 (RGB order for C=3).
// Throws InputError naming the file when it cannot be read or decoded.
void decode_resized(const std::string& path, int channels, int height, int width, ResizePolicy policy, uint8_t* out);

// Decodes done by this process (a counter for tests and benchmarks).
int64_t image_decode_count();

}  // namespace perceptra
