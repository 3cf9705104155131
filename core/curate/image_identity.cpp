#include "core/curate/image_identity.h"

#include <cstring>
#include <filesystem>
#include <unordered_map>

#include "core/data/curated_dataset.h"
#include "core/tensor/input_file.h"
#include "core/data/image_folder.h"
#include "core/tensor/error.h"

namespace fs = std::filesystem;

namespace perceptra {

namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string relative_to(const std::string& path, const std::string& root) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  if (path.size() > r.size() + 1 && path.compare(0, r.size(), r) == 0 && path[r.size()] == '/')
    return path.substr(r.size() + 1);
  return fs::path(path).lexically_relative(r).generic_string();
}

std::vector<ImageIdentity> identify_part(const Dataset& data, const std::string& root, const std::string& prefix) {
  const Dataset& base = uncurated(data);
  std::vector<ImageIdentity> out(size_t(base.size()));
  if (auto* folder = dynamic_cast<const ImageFolderDataset*>(&base)) {
    for (int64_t i = 0; i < base.size(); ++i) {
      const std::string& path = folder->path(i);
      const std::string bytes = read_regular_file(path, uint64_t(1) << 30, "image file");
      out[size_t(i)] = {relative_to(path, root), content_hash(bytes.data(), bytes.size())};
    }
    return out;
  }
  const size_t numel = size_t(base.sample_shape().numel());
  std::vector<float> pixels;
  for (int64_t i = 0; i < base.size(); ++i) {
    uint64_t h;
    if (const uint8_t* p = base.pixels_u8(i)) {
      h = content_hash(p, numel);
    } else {
      pixels.resize(numel);
      base.image(i, pixels.data());
      h = content_hash(pixels.data(), numel * sizeof(float));
    }
    out[size_t(i)] = {prefix + std::to_string(i), h};
  }
  return out;
}

}  // namespace

uint64_t content_hash(const void* data, size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ (bytes * 0xff51afd7ed558ccdULL);
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ mix(w)) * 0x9fb21c651e98df25ULL;
    h = (h << 29) | (h >> 35);
  }
  uint64_t tail = 0;
  for (size_t k = 0; i < bytes; ++i, ++k) tail |= uint64_t(p[i]) << (8 * k);
  return mix(h ^ mix(tail + bytes));
}

std::string hash_hex(uint64_t h) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) s[size_t(i)] = digits[h & 15];
  return s;
}

SourceIdentities identify(const DataSource& src) {
  SourceIdentities ids;
  const bool folder = src.format == "image-folder";
  if (src.train) ids.train = identify_part(*src.train, src.location, "");
  if (src.test) ids.test = identify_part(*src.test, src.location, folder ? "" : "test:");
  return ids;
}

ImageLocation locate_image(const DataSource& src, const SourceIdentities& ids, const std::string& image) {
  for (bool test : {false, true}) {
    const auto& part = ids.part(test);
    for (size_t i = 0; i < part.size(); ++i)
      if (part[i].image == image) return {test, int64_t(i), &part[i]};
  }
  throw InputError(src.name,
                   "no image '" + image + "' in this dataset (" +
                       (src.format == "image-folder" ? std::string("give its path relative to ") + src.location
                                                     : std::string("give its index, or test:<index>")) +
                       ")");
}

std::string image_file_path(const DataSource& src, bool test_part, int64_t index) {
  const auto& d = test_part ? src.test : src.train;
  if (!d) return "";
  if (auto* folder = dynamic_cast<const ImageFolderDataset*>(&uncurated(*d))) return folder->path(index);
  return "";
}

}  // namespace perceptra
