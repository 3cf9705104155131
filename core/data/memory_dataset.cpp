#include "core/data/memory_dataset.h"

#include "core/tensor/error.h"

namespace perceptra {

MemoryDataset::MemoryDataset(std::string source, Shape sample_shape, std::vector<std::string> class_names,
                             std::vector<uint8_t> pixels, std::vector<int32_t> labels)
    : source_(std::move(source)),
      shape_(std::move(sample_shape)),
      classes_(std::move(class_names)),
      pixels_(std::move(pixels)),
      labels_(std::move(labels)),
      sample_numel_(shape_.numel()) {
  PCHECK(shape_.rank() == 3, "MemoryDataset: sample shape must be [C,H,W], got " + shape_.str());
  PCHECK(static_cast<int64_t>(pixels_.size()) == sample_numel_ * size(),
         "MemoryDataset: pixel buffer does not match " + std::to_string(size()) + " samples of " + shape_.str());
  for (int32_t l : labels_)
    PCHECK(l >= 0 && l < static_cast<int32_t>(classes_.size()),
           "MemoryDataset: label " + std::to_string(l) + " out of range");
}

int MemoryDataset::label(int64_t index) const {
  PCHECK(index >= 0 && index < size(),
         "MemoryDataset: index " + std::to_string(index) + " out of range [0, " + std::to_string(size()) + ")");
  return labels_[static_cast<size_t>(index)];
}

const uint8_t* MemoryDataset::pixels_u8(int64_t index) const {
  PCHECK(index >= 0 && index < size(),
         "MemoryDataset: index " + std::to_string(index) + " out of range [0, " + std::to_string(size()) + ")");
  return pixels_.data() + index * sample_numel_;
}

void MemoryDataset::image(int64_t index, float* out) const {
  const uint8_t* p = pixels_u8(index);
  constexpr float k = 1.0f / 255.0f;
  for (int64_t i = 0; i < sample_numel_; ++i) out[i] = static_cast<float>(p[i]) * k;
}

}  // namespace perceptra
