#pragma once
// Datasets deliver samples as float images [C,H,W] in [0,1] (before
// normalisation) with integer labels. Implementations: IDX, CIFAR-10 binary,
// image folder. Everything else (splits, normalisation, augmentation,
// batching, prefetching) is built on this interface.
// Entry points: core/data/resolve.h (open_dataset by name or path),
// split.h, normalize.h, augment.h, loader.h, describe.h.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor/shape.h"

namespace perceptra {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Shape sample_shape() const = 0;  // [C,H,W]
  virtual const std::vector<std::string>& class_names() const = 0;
  int num_classes() const { return static_cast<int>(class_names().size()); }
  virtual int label(int64_t index) const = 0;
  // Writes sample_shape().numel() floats in [0,1]. Thread-safe for reads.
  virtual void image(int64_t index, float* out) const = 0;
  // Where it came from (path or name), for messages and the store.
  virtual std::string source() const = 0;
  // Fast path for in-memory 8-bit datasets: the sample's pixels [C,H,W]
  // (value/255 = image()), or nullptr when samples are decoded on demand.
  virtual const uint8_t* pixels_u8(int64_t /*index*/) const { return nullptr; }
  // Labels of all samples, in order (used by splits and statistics).
  std::vector<int> labels() const;
};

}  // namespace perceptra
