#pragma once
// Image dimensions and colour from the first bytes of a file, without
// decoding it: PNG, JPEG (with its EXIF orientation), BMP, GIF, WebP,
// PNM and TIFF. Used to choose a folder's image size from a sample of
// headers (a 20000x20000 PNG costs a few hundred bytes to look at, not
// gigabytes) and to skip files that are not images before training.
#include <cstddef>
#include <cstdint>
#include <string>

namespace perceptra {

struct ImageHeader {
  std::string format;  // "png", "jpeg", "bmp", "gif", "webp", "pnm", "tiff"
  int width = 0;       // as displayed: EXIF orientations 5-8 swap width/height
  int height = 0;
  int channels = 0;     // 1 grey, 3 colour, 4 colour + alpha, 2 grey + alpha; 0 unknown
  int orientation = 1;  // EXIF orientation 1..8 (JPEG; 1 elsewhere)
};

// Parses the header in `bytes`; false with `*why` set when they are not a
// known image format or the header is malformed/truncated.
bool parse_image_header(const uint8_t* bytes, size_t size, ImageHeader* out, std::string* why);

// Reads the header of `path` (4 KiB, or a JPEG's segments walked with seeks).
bool read_image_header(const std::string& path, ImageHeader* out, std::string* why);

}  // namespace perceptra
