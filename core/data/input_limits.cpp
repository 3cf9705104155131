#include "core/data/input_limits.h"

#include <cstdlib>
#include <cstring>

#include "core/tensor/error.h"

namespace perceptra::data {
namespace {

uint64_t env_u64(const char* name, uint64_t fallback, uint64_t unit) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (*end || n == 0) return fallback;
  return uint64_t(n) * unit;
}

uint32_t be32(const uint8_t* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t le16(const uint8_t* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t le24(const uint8_t* p) { return uint32_t(p[2]) << 16 | uint32_t(p[1]) << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return le16(p + 2) << 16 | le16(p); }

bool jpeg_size(const uint8_t* d, size_t n, ImageSize* out) {
  size_t i = 2;
  while (i + 4 <= n) {
    if (d[i] != 0xFF) return false;
    uint8_t m = d[i + 1];
    if (m == 0xFF) {
      ++i;
      continue;
    }  // fill byte
    if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
      i += 2;
      continue;
    }
    size_t len = be16(d + i + 2);
    if (len < 2) return false;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
      if (i + 9 > n) return false;
      out->height = be16(d + i + 5);
      out->width = be16(d + i + 7);
      return true;
    }
    i += 2 + len;
  }
  return false;
}

// PNM: "P5 <w> <h> ..." with comments.
bool pnm_size(const uint8_t* d, size_t n, ImageSize* out) {
  size_t i = 2;
  int64_t v[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r' || d[i] == '#')) {
      if (d[i] == '#')
        while (i < n && d[i] != '\n') ++i;
      else
        ++i;
    }
    if (i >= n || d[i] < '0' || d[i] > '9') return false;
    while (i < n && d[i] >= '0' && d[i] <= '9' && v[k] < (int64_t(1) << 40)) v[k] = v[k] * 10 + (d[i++] - '0');
  }
  out->width = v[0];
  out->height = v[1];
  return true;
}

}  // namespace

InputLimits& input_limits() {
  static InputLimits limits = [] {
    InputLimits l;
    l.max_inflated_bytes = env_u64("PERCEPTRA_MAX_INFLATED_MB", l.max_inflated_bytes, 1 << 20);
    l.max_image_pixels = int64_t(env_u64("PERCEPTRA_MAX_IMAGE_PIXELS", uint64_t(l.max_image_pixels), 1));
    return l;
  }();
  return limits;
}

bool peek_image_size(const uint8_t* d, size_t n, ImageSize* out) {
  static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 24 && std::memcmp(d, kPng, 8) == 0) {
    out->width = be32(d + 16);
    out->height = be32(d + 20);
    return true;
  }
  if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8) return jpeg_size(d, n, out);
  if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
    out->width = int32_t(le32(d + 18));
    int32_t h = int32_t(le32(d + 22));  // negative: top-down rows
    out->height = h < 0 ? -int64_t(h) : h;
    if (out->width < 0) out->width = -out->width;
    return true;
  }
  if (n >= 10 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) {
    out->width = le16(d + 6);
    out->height = le16(d + 8);
    return true;
  }
  if (n >= 30 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) {
    if (std::memcmp(d + 12, "VP8X", 4) == 0) {
      out->width = le24(d + 24) + 1;
      out->height = le24(d + 27) + 1;
      return true;
    }
    if (std::memcmp(d + 12, "VP8 ", 4) == 0) {
      out->width = le16(d + 26) & 0x3FFF;
      out->height = le16(d + 28) & 0x3FFF;
      return true;
    }
    if (std::memcmp(d + 12, "VP8L", 4) == 0 && n >= 25) {
      uint32_t b = le32(d + 21);
      out->width = (b & 0x3FFF) + 1;
      out->height = ((b >> 14) & 0x3FFF) + 1;
      return true;
    }
    return false;
  }
  if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '6') return pnm_size(d, n, out);
  return false;
}

void check_image_size(const std::string& path, const uint8_t* data, size_t size) {
  ImageSize s;
  if (!peek_image_size(data, size, &s)) return;
  const int64_t limit = input_limits().max_image_pixels;
  // Each side is below 2^41 here, so the product cannot overflow.
  if (s.width > limit || s.height > limit || s.width * s.height > limit)
    throw InputError(path, "image header declares " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                               " pixels, more than the limit of " + std::to_string(limit) +
                               " (PERCEPTRA_MAX_IMAGE_PIXELS raises it)");
}

}  // namespace perceptra::data
