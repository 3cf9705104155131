#include "core/tensor/shape.h"

namespace perceptra {

int64_t Shape::numel() const {
  int64_t n = 1;
  for (auto d : dims_) n *= d;
  return n;
}

Shape Shape::with_batch(int64_t n) const {
  Shape s = *this;
  if (!s.dims_.empty()) s.dims_[0] = n;
  return s;
}

Shape Shape::sample() const {
  if (dims_.empty()) return {};
  return Shape(std::vector<int64_t>(dims_.begin() + 1, dims_.end()));
}

std::string Shape::str() const {
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

}  // namespace perceptra
