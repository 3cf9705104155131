#pragma once
// Shared helpers for the io tests.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/nn/model.h"
#include "core/tensor/random.h"

namespace perceptra::iotest {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("perceptra-io-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  size_t entries() const {
    size_t n = 0;
    for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(path)) ++n;
    return n;
  }
};

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

inline Tensor random_input(const Shape& sample, int64_t n, uint64_t seed) {
  std::vector<int64_t> dims = {n};
  for (auto d : sample.dims()) dims.push_back(d);
  Shape s(dims);
  Rng rng(seed);
  std::vector<float> v(size_t(s.numel()));
  for (auto& x : v) x = rng.uniform();
  return Tensor::from_vector(s, v);
}

// A built-in model whose batch-norm running statistics have moved away from
// their initial (0, 1) values, so buffers are really exercised.
inline std::unique_ptr<Model> trained_looking_model(const std::string& name, const Shape& input, int classes,
                                                    uint64_t seed) {
  Rng rng(seed);
  auto m = Model::from_spec(Model::builtin_spec(name, input, classes), rng);
  for (int i = 0; i < 3; ++i) m->forward(random_input(input, 8, seed + i), /*training=*/true);
  return m;
}

}  // namespace perceptra::iotest
