#pragma once
// A tiny generated image-folder dataset for trainer and CLI tests: PGM files
// (no OpenCV needed to write them), `classes` classes of simple learnable
// patterns (a bar at a class-specific row or column) with noise.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace perceptra::test {

inline std::string make_temp_dir(const std::string& tag) {
  auto base = std::filesystem::temp_directory_path() / ("perceptra-" + tag + "-" + std::to_string(::getpid()) + "-" +
                                                        std::to_string(reinterpret_cast<uintptr_t>(&tag) & 0xffff));
  std::filesystem::remove_all(base);
  std::filesystem::create_directories(base);
  return base.string();
}

// Writes <dir>/<class_k>/img_i.pgm; returns dir.
inline std::string make_tiny_dataset(const std::string& dir, int classes = 3, int per_class = 40, int size = 12,
                                     uint32_t seed = 1) {
  uint32_t s = seed * 2654435761u + 1;
  auto rnd = [&]() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  };
  for (int c = 0; c < classes; ++c) {
    auto cdir = std::filesystem::path(dir) / ("class_" + std::string(1, char('a' + c)));
    std::filesystem::create_directories(cdir);
    for (int i = 0; i < per_class; ++i) {
      std::ofstream f(cdir / ("img_" + std::to_string(i) + ".pgm"), std::ios::binary);
      f << "P5\n" << size << " " << size << "\n255\n";
      int line = 2 + (c * (size - 4)) / std::max(1, classes - 1);
      bool horizontal = c % 2 == 0;
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          int v = static_cast<int>(rnd() % 60);
          int pos = horizontal ? y : x;
          if (std::abs(pos - line) <= 1) v += 150 + static_cast<int>(rnd() % 40);
          f.put(static_cast<char>(std::min(v, 255)));
        }
    }
  }
  return dir;
}

// A small MLP spec for the tiny data (fast on any machine).
inline nlohmann::json tiny_mlp_spec(int classes = 3) {
  return {{"name", "tiny-mlp"},
          {"layers",
           {{{"type", "flatten"}},
            {{"type", "linear"}, {"out_features", 32}},
            {{"type", "relu"}},
            {{"type", "linear"}, {"out_features", classes}}}}};
}

}  // namespace perceptra::test
