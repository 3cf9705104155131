#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace perceptra {

// Dimensions of a row-major tensor, outermost first (NCHW for images).
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t operator[](int i) const { return dims_.at(i < 0 ? i + rank() : i); }
  int64_t& operator[](int i) { return dims_.at(i < 0 ? i + rank() : i); }
  int64_t numel() const;
  const std::vector<int64_t>& dims() const { return dims_; }
  // Same shape with the first (batch) dimension replaced.
  Shape with_batch(int64_t n) const;
  // Everything but the batch dimension, e.g. [1,28,28] for [N,1,28,28].
  Shape sample() const;
  std::string str() const;  // "[128, 1, 28, 28]"

  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return dims_ != o.dims_; }

 private:
  std::vector<int64_t> dims_;
};

}  // namespace perceptra
