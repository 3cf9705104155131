#include "core/data/image_header.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace perceptra {

namespace {

// Bounds-checked big/little-endian reads; every parser checks `size` first.
uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t be32(const uint8_t* p) { return be16(p) << 16 | be16(p + 2); }
uint32_t le16(const uint8_t* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return le16(p + 2) << 16 | le16(p); }

bool fail(std::string* why, const std::string& text) {
  *why = text;
  return false;
}

bool png(const uint8_t* b, size_t n, ImageHeader* h, std::string* why) {
  if (n < 29 || std::memcmp(b + 12, "IHDR", 4) != 0) return fail(why, "truncated or malformed PNG header (no IHDR)");
  h->format = "png";
  h->width = int(std::min<uint32_t>(be32(b + 16), 0x7fffffff));
  h->height = int(std::min<uint32_t>(be32(b + 20), 0x7fffffff));
  switch (b[25]) {  // colour type
    case 0:
      h->channels = 1;
      break;
    case 2:
    case 3:
      h->channels = 3;
      break;
    case 4:
      h->channels = 2;
      break;
    case 6:
      h->channels = 4;
      break;
    default:
      return fail(why, "PNG header has an unknown colour type " + std::to_string(b[25]));
  }
  return true;
}

// The orientation tag (0x0112) of IFD0 in an EXIF block ("Exif\0\0" + TIFF).
int exif_orientation(const uint8_t* t, size_t n) {
  if (n < 8) return 1;
  const bool le = t[0] == 'I' && t[1] == 'I';
  if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
  auto u16 = [&](size_t o) { return le ? le16(t + o) : be16(t + o); };
  auto u32 = [&](size_t o) { return le ? le32(t + o) : be32(t + o); };
  const size_t ifd = u32(4);
  if (ifd + 2 > n) return 1;
  const size_t count = u16(ifd);
  for (size_t k = 0; k < count; ++k) {
    const size_t e = ifd + 2 + 12 * k;
    if (e + 12 > n) break;
    if (u16(e) == 0x0112) {
      const uint32_t v = u16(e + 8);  // SHORT, stored left-justified in the value field
      return v >= 1 && v <= 8 ? int(v) : 1;
    }
  }
  return 1;
}

bool jpeg(const uint8_t* b, size_t n, ImageHeader* h, std::string* why) {
  h->format = "jpeg";
  size_t p = 2;
  while (true) {
    // Markers may be preceded by fill bytes 0xFF.
    if (p + 2 > n) return fail(why, "truncated JPEG header (no frame header found)");
    if (b[p] != 0xFF) return fail(why, "malformed JPEG header (expected a marker)");
    while (p + 1 < n && b[p + 1] == 0xFF) ++p;
    if (p + 2 > n) return fail(why, "truncated JPEG header");
    const uint8_t m = b[p + 1];
    p += 2;
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length
    if (m == 0xD9 || m == 0xDA) return fail(why, "malformed JPEG (no frame header before the image data)");
    if (p + 2 > n) return fail(why, "truncated JPEG header");
    const size_t len = be16(b + p);
    if (len < 2) return fail(why, "malformed JPEG segment length");
    const uint8_t* seg = b + p + 2;
    const size_t seg_n = len - 2;
    if (m == 0xE1 && h->orientation == 1 && p + len <= n && seg_n >= 6 && std::memcmp(seg, "Exif\0\0", 6) == 0)
      h->orientation = exif_orientation(seg + 6, seg_n - 6);
    const bool sof = (m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (p + 8 > n || seg_n < 6) return fail(why, "truncated JPEG frame header");
      int height = int(be16(seg + 1)), width = int(be16(seg + 3));
      const int comps = seg[5];
      if (height == 0 || width == 0) return fail(why, "JPEG frame header has a zero size");
      if (h->orientation >= 5) std::swap(width, height);  // rotated by 90 degrees
      h->width = width;
      h->height = height;
      h->channels = comps == 1 ? 1 : 3;
      return true;
    }
    p += len;
  }
}

bool bmp(const uint8_t* b, size_t n, ImageHeader* h, std::string* why) {
  if (n < 26) return fail(why, "truncated BMP header");
  h->format = "bmp";
  const uint32_t dib = le32(b + 14);
  int64_t w = 0, hh = 0;
  uint32_t bpp = 0;
  if (dib == 12) {
    w = le16(b + 18);
    hh = le16(b + 20);
    bpp = le16(b + 24);
  } else {
    if (n < 30) return fail(why, "truncated BMP header");
    w = int32_t(le32(b + 18));
    hh = int32_t(le32(b + 22));
    bpp = le16(b + 28);
  }
  if (hh < 0) hh = -hh;  // top-down rows
  if (w <= 0 || hh <= 0 || w > 0x7fffffff || hh > 0x7fffffff) return fail(why, "BMP header has an invalid size");
  h->width = int(w);
  h->height = int(hh);
  h->channels = bpp == 24 ? 3 : bpp == 32 ? 4 : 0;  // palettes may be grey or colour
  return true;
}

bool webp(const uint8_t* b, size_t n, ImageHeader* h, std::string* why) {
  if (n < 30) return fail(why, "truncated WebP header");
  h->format = "webp";
  const uint8_t* c = b + 12;
  if (std::memcmp(c, "VP8X", 4) == 0) {
    h->channels = (b[20] & 0x10) ? 4 : 3;
    h->width = int(1 + (b[24] | b[25] << 8 | b[26] << 16));
    h->height = int(1 + (b[27] | b[28] << 8 | b[29] << 16));
    return true;
  }
  if (std::memcmp(c, "VP8 ", 4) == 0) {
    if (b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a) return fail(why, "malformed WebP (VP8) header");
    h->channels = 3;
    h->width = int(le16(b + 26) & 0x3fff);
    h->height = int(le16(b + 28) & 0x3fff);
    return h->width > 0 && h->height > 0 ? true : fail(why, "WebP header has a zero size");
  }
  if (std::memcmp(c, "VP8L", 4) == 0) {
    if (b[20] != 0x2f) return fail(why, "malformed WebP (VP8L) header");
    const uint32_t bits = le32(b + 21);
    h->width = int(1 + (bits & 0x3fff));
    h->height = int(1 + ((bits >> 14) & 0x3fff));
    h->channels = (bits >> 28) & 1 ? 4 : 3;
    return true;
  }
  return fail(why, "unknown WebP chunk");
}

bool pnm(const uint8_t* b, size_t n, ImageHeader* h, std::string* why) {
  h->format = "pnm";
  const char kind = char(b[1]);
  h->channels = (kind == '3' || kind == '6') ? 3 : 1;
  size_t p = 2;
  int64_t v[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    while (p < n && (std::isspace(b[p]) || b[p] == '#')) {
      if (b[p] == '#')
        while (p < n && b[p] != '\n') ++p;
      else
        ++p;
    }
    if (p >= n || !std::isdigit(b[p])) return fail(why, "malformed PNM header");
    while (p < n && std::isdigit(b[p]) && v[k] <= 0x7fffffff) v[k] = v[k] * 10 + (b[p++] - '0');
  }
  if (v[0] <= 0 || v[1] <= 0 || v[0] > 0x7fffffff || v[1] > 0x7fffffff)
    return fail(why, "PNM header has an invalid size");
  h->width = int(v[0]);
  h->height = int(v[1]);
  return true;
}

bool tiff(const uint8_t* b, size_t n, ImageHeader* h, std::string* why) {
  h->format = "tiff";
  const bool le = b[0] == 'I';
  auto u16 = [&](size_t o) { return le ? le16(b + o) : be16(b + o); };
  auto u32 = [&](size_t o) { return le ? le32(b + o) : be32(b + o); };
  const size_t ifd = u32(4);
  if (ifd + 2 > n) return fail(why, "TIFF directory is beyond the header bytes read");
  const size_t count = u16(ifd);
  uint32_t width = 0, height = 0, spp = 1;
  for (size_t k = 0; k < count; ++k) {
    const size_t e = ifd + 2 + 12 * k;
    if (e + 12 > n) break;
    const uint32_t tag = u16(e), type = u16(e + 2);
    const uint32_t value = type == 3 ? u16(e + 8) : u32(e + 8);
    if (tag == 256) width = value;
    if (tag == 257) height = value;
    if (tag == 277) spp = value;
  }
  if (width == 0 || height == 0 || width > 0x7fffffff || height > 0x7fffffff)
    return fail(why, "TIFF header has no valid image size");
  h->width = int(width);
  h->height = int(height);
  h->channels = spp >= 1 && spp <= 4 ? int(spp) : 0;
  return true;
}

}  // namespace

bool parse_image_header(const uint8_t* b, size_t n, ImageHeader* out, std::string* why) {
  ImageHeader h;
  bool ok = false;
  if (n >= 8 && std::memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
    ok = png(b, n, &h, why);
  else if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
    ok = jpeg(b, n, &h, why);
  else if (n >= 2 && b[0] == 'B' && b[1] == 'M')
    ok = bmp(b, n, &h, why);
  else if (n >= 12 && std::memcmp(b, "RIFF", 4) == 0 && std::memcmp(b + 8, "WEBP", 4) == 0)
    ok = webp(b, n, &h, why);
  else if (n >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6')
    ok = pnm(b, n, &h, why);
  else if (n >= 8 && ((b[0] == 'I' && b[1] == 'I' && b[2] == 42 && b[3] == 0) ||
                      (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && b[3] == 42)))
    ok = tiff(b, n, &h, why);
  else
    return fail(why, n == 0 ? "empty image file" : "not an image (unknown file signature)");
  if (ok) *out = h;
  return ok;
}

namespace {

// A JPEG whose frame header is beyond the first bytes read (a large EXIF or
// ICC block first): walk the segments with seeks, reading only the EXIF
// block (for the orientation) and the frame header.
bool jpeg_stream(std::istream& in, ImageHeader* out, std::string* why) {
  ImageHeader h;
  h.format = "jpeg";
  in.clear();
  in.seekg(2);
  uint8_t m2[4];
  for (int segments = 0; segments < 4096; ++segments) {
    if (!in.read(reinterpret_cast<char*>(m2), 2)) return fail(why, "truncated JPEG (no frame header)");
    if (m2[0] != 0xFF) return fail(why, "malformed JPEG header (expected a marker)");
    uint8_t m = m2[1];
    while (m == 0xFF) {
      if (!in.read(reinterpret_cast<char*>(&m), 1)) return fail(why, "truncated JPEG header");
    }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
    if (m == 0xD9 || m == 0xDA) return fail(why, "malformed JPEG (no frame header before the image data)");
    if (!in.read(reinterpret_cast<char*>(m2), 2)) return fail(why, "truncated JPEG header");
    const size_t len = be16(m2);
    if (len < 2) return fail(why, "malformed JPEG segment length");
    const bool sof = (m >= 0xC0 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof || (m == 0xE1 && h.orientation == 1)) {
      std::vector<uint8_t> seg(len - 2);
      if (!in.read(reinterpret_cast<char*>(seg.data()), std::streamsize(seg.size())))
        return fail(why, "truncated JPEG segment");
      if (m == 0xE1) {
        if (seg.size() >= 6 && std::memcmp(seg.data(), "Exif\0\0", 6) == 0)
          h.orientation = exif_orientation(seg.data() + 6, seg.size() - 6);
        continue;
      }
      // Re-parse as a complete in-memory header: SOI + this frame header.
      std::vector<uint8_t> mini = {0xFF, 0xD8, 0xFF, m, m2[0], m2[1]};
      mini.insert(mini.end(), seg.begin(), seg.end());
      if (!parse_image_header(mini.data(), mini.size(), out, why)) return false;
      if (h.orientation >= 5) std::swap(out->width, out->height);
      out->orientation = h.orientation;
      return true;
    }
    in.seekg(std::streamoff(len - 2), std::ios::cur);
  }
  return fail(why, "malformed JPEG (too many segments before the frame header)");
}

}  // namespace

bool read_image_header(const std::string& path, ImageHeader* out, std::string* why) {
  // Only regular files: opening a FIFO would block.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(std::filesystem::path(path), ec)) return fail(why, "not a regular file");
  std::ifstream in(std::filesystem::path(path), std::ios::binary);
  if (!in) return fail(why, "cannot open image file");
  // Headers are in the first 4 KiB, except a JPEG's frame header after a
  // large EXIF/ICC block: then the segments are walked.
  std::vector<uint8_t> buf(4096);
  in.read(reinterpret_cast<char*>(buf.data()), std::streamsize(buf.size()));
  buf.resize(size_t(in.gcount()));
  if (parse_image_header(buf.data(), buf.size(), out, why)) return true;
  if (buf.size() < 4096 || !(buf[0] == 0xFF && buf[1] == 0xD8)) return false;
  return jpeg_stream(in, out, why);
}

}  // namespace perceptra
