// Image-folder listing: the input describes a small tree, records of
// <class byte><name length><name><content length u16><content>; it is
// created under a fresh root and loaded (listing, class names, decoding
// and the image-size checks).
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/data/image_folder.h"
#include "core/data/input_limits.h"
#include "core/tensor/error.h"
#include "fuzz/fuzz_util.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  perceptra::data::input_limits().max_image_pixels = 1 << 20;
  const fs::path root = perceptra::fuzz::scratch_dir() / "folder";
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::create_directories(root);
  size_t i = 0;
  for (int files = 0; i + 4 <= size && files < 16; ++files) {
    std::string cls = "c" + std::to_string(data[i] % 4);
    size_t nlen = data[i + 1] % 32;
    i += 2;
    if (i + nlen + 2 > size) break;
    std::string name(reinterpret_cast<const char*>(data + i), nlen);
    i += nlen;
    size_t clen = size_t(data[i]) | size_t(data[i + 1]) << 8;
    i += 2;
    clen = std::min(clen, size - i);
    // Names are bytes (non-UTF-8 included), but no path separators or NUL.
    for (char& c : name)
      if (c == '/' || c == '\0') c = '_';
    if (name.empty() || name == "." || name == "..") name = "x" + std::to_string(files);
    fs::create_directories(root / cls);
    std::ofstream(root / cls / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(data + i), std::streamsize(clen));
    i += clen;
  }
  try {
    perceptra::ImageFolderOptions o;
    // Fixed size, or (top bit of the first byte) the first image's size,
    // which the image-pixel limit bounds.
    o.height = o.width = (size > 0 && (data[0] & 0x80)) ? 0 : 8;
    auto ds = perceptra::load_image_folder(root.string(), o);
    (void)ds;
  } catch (const perceptra::InputError&) {}
  return 0;
}
