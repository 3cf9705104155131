#pragma once
// Tensor: float32, contiguous, row-major (NCHW for images), owned by a
// Device. Copies share storage (like a shared_ptr); clone() deep-copies.
// data() is a device pointer for CUDA tensors: read host values through
// to_vector() or to(Device::cpu()).
//
// Training on the CPU may keep a layer's image output channel-blocked
// (channel_block() b > 1: [N, C/b, H, W, b], oneDNN's nChw16c for b = 16) so
// consecutive convolutions, batch norms and activations skip the reorders
// to NCHW and back (core/nn/layer.h, accepts_channel_blocks). The shape
// stays the logical NCHW one; to_vector(), to(), reshape() and copy_from()
// see NCHW, converting when needed, so only code reading data() directly
// must ask channel_block().
#include <cstddef>
#include <memory>
#include <vector>

#include "core/tensor/device.h"
#include "core/tensor/shape.h"

namespace perceptra {

class Backend;

class Storage {
 public:
  Storage(Backend& backend, size_t n);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  float* data() { return data_; }
  size_t size() const { return n_; }
  Backend& backend() const { return backend_; }

 private:
  Backend& backend_;
  float* data_ = nullptr;
  size_t n_ = 0;
};

class Tensor {
 public:
  Tensor() = default;
  // Uninitialised contents.
  static Tensor empty(const Shape& shape, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values, Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_.numel(); }
  int64_t dim(int i) const { return shape_[i]; }
  int rank() const { return shape_.rank(); }
  Device device() const { return device_; }
  Backend& backend() const;

  float* data() { return storage_ ? storage_->data() + offset_ : nullptr; }
  const float* data() const { return storage_ ? storage_->data() + offset_ : nullptr; }

  // 1: NCHW (or any non-image tensor); b > 1: channel-blocked (above).
  int channel_block() const { return block_; }
  // The same values in channel block b: itself when it already is, else a
  // converted copy (backend op reorder_channel_block).
  Tensor in_channel_block(int b) const;
  // Same storage, relabelled: for a buffer just written in block b.
  Tensor with_channel_block(int b) const;

  // Same storage, new shape (numel must match); a blocked tensor is
  // converted to NCHW first.
  Tensor reshape(const Shape& shape) const;
  // Rows [begin, end) of the outermost dimension, sharing storage.
  Tensor slice(int64_t begin, int64_t end) const;
  Tensor clone() const;
  Tensor to(Device device) const;  // shares storage when already there
  std::vector<float> to_vector() const;
  void copy_from(const Tensor& src);  // shapes' numel must match; any devices
  void fill(float value);
  // True when both views share one allocation (for tests of buffer reuse).
  bool shares_storage_with(const Tensor& o) const { return storage_ == o.storage_; }

 private:
  Shape shape_;
  Device device_;
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  int block_ = 1;
};

}  // namespace perceptra
