#include "core/data/idx.h"

#include <cstdio>

#include "core/data/class_names.h"
#include "core/data/file_bytes.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

struct IdxHeader {
  std::vector<int64_t> dims;
  size_t data_offset = 0;
};

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", v);
  return buf;
}

// `what` is "images" or "labels"; expected rank 3 or 1.
IdxHeader parse_header(const std::vector<uint8_t>& b, const std::string& path, int rank, const char* what) {
  const uint32_t expected_magic = 0x00000800u | uint32_t(rank);
  if (b.size() < 4)
    throw InputError(path, "truncated: " + std::to_string(b.size()) + " bytes, too short for an IDX header");
  uint32_t magic = be32(b.data());
  if (b[0] != 0 || b[1] != 0)
    throw InputError(path, "wrong magic number " + hex32(magic) + ": not an IDX file (expected " +
                               hex32(expected_magic) + " for " + what + ")");
  if (b[2] != 0x08)
    throw InputError(path, "wrong magic number " + hex32(magic) +
                               ": unsupported IDX element type (only unsigned bytes, expected " +
                               hex32(expected_magic) + " for " + what + ")");
  if (b[3] != rank)
    throw InputError(path, "wrong magic number " + hex32(magic) + ": " + std::to_string(b[3]) +
                               "-dimensional IDX data, expected " + hex32(expected_magic) + " for " + what + " (" +
                               std::to_string(rank) + " dimensions)");
  IdxHeader h;
  h.data_offset = 4 + 4 * size_t(rank);
  if (b.size() < h.data_offset)
    throw InputError(path, "truncated: IDX header cut off after " + std::to_string(b.size()) + " bytes");
  // Dimensions are u32 each: three of them overflow int64, so the product
  // saturates (anything above the file size is reported as truncated).
  const int64_t cap = int64_t(1) << 62;
  int64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    int64_t d = be32(b.data() + 4 + 4 * i);
    h.dims.push_back(d);
    numel = (d != 0 && numel > cap / d) ? cap : numel * d;
  }
  for (int i = 1; i < rank; ++i)
    if (h.dims[size_t(i)] == 0) throw InputError(path, "IDX dimension " + std::to_string(i) + " is zero");
  const int64_t have = int64_t(b.size() - h.data_offset);
  if (have < numel) {
    std::string shape = std::to_string(h.dims[0]) + " " + what;
    if (rank == 3) shape += " of " + std::to_string(h.dims[1]) + "x" + std::to_string(h.dims[2]);
    throw InputError(path, "truncated: expected " + std::to_string(numel) + " data bytes for " + shape + ", found " +
                               std::to_string(have));
  }
  if (have > numel)
    throw InputError(path,
                     std::to_string(have - numel) + " unexpected bytes after the data declared in the IDX header");
  return h;
}

}  // namespace

std::shared_ptr<MemoryDataset> load_idx(const std::string& images_path, const std::string& labels_path,
                                        const IdxOptions& options) {
  std::vector<uint8_t> ib = data::read_file_bytes(images_path);
  IdxHeader ih = parse_header(ib, images_path, 3, "images");
  std::vector<uint8_t> lb = data::read_file_bytes(labels_path);
  IdxHeader lh = parse_header(lb, labels_path, 1, "labels");

  const int64_t n = ih.dims[0], h = ih.dims[1], w = ih.dims[2];
  if (lh.dims[0] != n)
    throw InputError(labels_path, "image/label count mismatch: " + std::to_string(lh.dims[0]) + " labels but " +
                                      images_path + " has " + std::to_string(n) + " images");
  if (n == 0) throw InputError(images_path, "IDX file holds no images");

  std::vector<int32_t> labels(static_cast<size_t>(n));
  int max_label = 0;
  for (int64_t i = 0; i < n; ++i) {
    int l = lb[lh.data_offset + size_t(i)];
    labels[size_t(i)] = l;
    max_label = std::max(max_label, l);
  }
  std::vector<std::string> names = options.class_names;
  if (names.empty()) {
    names = numbered_class_names(max_label + 1);
  } else {
    for (int64_t i = 0; i < n; ++i)
      if (labels[size_t(i)] >= int(names.size()))
        throw InputError(labels_path, "label " + std::to_string(labels[size_t(i)]) + " at index " + std::to_string(i) +
                                          " is out of range for " + std::to_string(names.size()) + " classes");
  }

  std::vector<uint8_t> pixels;
  if (!options.transpose) {
    // Reuse the file buffer: drop the header in place (no second 47 MB copy).
    ib.erase(ib.begin(), ib.begin() + std::ptrdiff_t(ih.data_offset));
    pixels = std::move(ib);
  } else {
    pixels.resize(size_t(n * h * w));
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* src = ib.data() + ih.data_offset + size_t(i * h * w);
      uint8_t* dst = pixels.data() + size_t(i * h * w);
      // Stored column-major: file holds [W][H]; header dims are still (H, W).
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) dst[y * w + x] = src[x * h + y];
    }
  }
  return std::make_shared<MemoryDataset>(images_path, Shape{1, h, w}, std::move(names), std::move(pixels),
                                         std::move(labels));
}

}  // namespace perceptra
