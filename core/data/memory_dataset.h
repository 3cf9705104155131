#pragma once
// A dataset held in memory as 8-bit pixels [N, C, H, W] (IDX, CIFAR-10 and
// image folders that fit the memory budget). 4x smaller than floats; the
// loader converts and normalises once into its own float cache.
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace perceptra {

class MemoryDataset : public Dataset {
 public:
  MemoryDataset(std::string source, Shape sample_shape, std::vector<std::string> class_names,
                std::vector<uint8_t> pixels, std::vector<int32_t> labels);

  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  Shape sample_shape() const override { return shape_; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  int label(int64_t index) const override;
  void image(int64_t index, float* out) const override;
  std::string source() const override { return source_; }
  const uint8_t* pixels_u8(int64_t index) const override;

 private:
  std::string source_;
  Shape shape_;
  std::vector<std::string> classes_;
  std::vector<uint8_t> pixels_;
  std::vector<int32_t> labels_;
  int64_t sample_numel_;
};

}  // namespace perceptra
