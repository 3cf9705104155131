#include "core/tensor/tensor.h"

#include "core/backend/backend.h"
#include "core/tensor/error.h"

namespace perceptra {

Storage::Storage(Backend& backend, size_t n) : backend_(backend), n_(n) { data_ = n ? backend_.allocate(n) : nullptr; }

Storage::~Storage() {
  if (data_) backend_.deallocate(data_, n_);
}

Tensor Tensor::empty(const Shape& shape, Device device) {
  for (auto d : shape.dims()) PCHECK(d >= 0, "tensor shape " + shape.str() + " has a negative dimension");
  Tensor t;
  t.shape_ = shape;
  t.device_ = device;
  t.storage_ = std::make_shared<Storage>(backend_for(device), static_cast<size_t>(shape.numel()));
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values, Device device) {
  PCHECK(static_cast<int64_t>(values.size()) == shape.numel(),
         "from_vector: " + std::to_string(values.size()) + " values for shape " + shape.str());
  Tensor t = empty(shape, device);
  if (!values.empty()) t.backend().copy_from_host(t.data(), values.data(), values.size());
  return t;
}

Backend& Tensor::backend() const {
  PCHECK(storage_, "backend() of an undefined tensor");
  return storage_->backend();
}

Tensor Tensor::with_channel_block(int b) const {
  PCHECK(b >= 1 && (b == 1 || (rank() == 4 && shape_[1] % b == 0)),
         "channel block " + std::to_string(b) + " does not fit tensor " + shape_.str());
  Tensor t = *this;
  t.block_ = b;
  return t;
}

Tensor Tensor::in_channel_block(int b) const {
  if (b == block_ || !defined()) return *this;
  Tensor t = empty(shape_, device_).with_channel_block(b);
  const int N = static_cast<int>(shape_[0]), C = static_cast<int>(shape_[1]);
  const int HW = static_cast<int>(shape_[2] * shape_[3]);
  if (numel()) backend().reorder_channel_block(data(), t.data(), N, C, HW, block_, b);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (block_ != 1) return in_channel_block(1).reshape(shape);
  PCHECK(shape.numel() == numel(),
         "cannot reshape " + shape_.str() + " to " + shape.str() + " (element counts differ)");
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  PCHECK(rank() >= 1 && begin >= 0 && begin <= end && end <= shape_[0],
         "slice [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of " + shape_.str());
  Tensor t = *this;
  int64_t row = shape_[0] ? numel() / shape_[0] : 0;
  t.shape_[0] = end - begin;
  t.offset_ += static_cast<size_t>(begin * row);
  return t;
}

Tensor Tensor::clone() const {
  if (!defined()) return {};
  Tensor t = empty(shape_, device_).with_channel_block(block_);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == device_ || !defined()) return *this;
  if (block_ != 1) return in_channel_block(1).to(device);
  Tensor t = empty(shape_, device);
  t.copy_from(*this);
  return t;
}

std::vector<float> Tensor::to_vector() const {
  if (block_ != 1) return in_channel_block(1).to_vector();
  std::vector<float> v(static_cast<size_t>(numel()));
  if (!v.empty()) backend().copy_to_host(v.data(), data(), v.size());
  return v;
}

void Tensor::copy_from(const Tensor& src) {
  PCHECK(src.numel() == numel(), "copy_from: source " + src.shape().str() + " does not fit " + shape_.str());
  size_t n = static_cast<size_t>(numel());
  if (n == 0) return;
  if (src.block_ != block_) {  // the values, in this tensor's layout
    PCHECK(src.shape_ == shape_, "copy_from: a channel-blocked source needs the same shape, not " + src.shape_.str());
    return copy_from(src.in_channel_block(block_));
  }
  if (src.device_ == device_) {
    backend().copy(data(), src.data(), n);
  } else if (src.device_.is_cpu()) {
    backend().copy_from_host(data(), src.data(), n);
  } else if (device_.is_cpu()) {
    src.backend().copy_to_host(data(), src.data(), n);
  } else {  // device to another device through the host
    std::vector<float> tmp = src.to_vector();
    backend().copy_from_host(data(), tmp.data(), n);
  }
}

void Tensor::fill(float value) {
  if (numel()) backend().fill(data(), static_cast<size_t>(numel()), value);
}

}  // namespace perceptra
