#pragma once
#include "core/nn/layer.h"

namespace perceptra {

// [N, d1, d2, ...] -> [N, d1*d2*...] (a view: no copy).
class Flatten : public Layer {
 public:
  std::string type() const override { return "flatten"; }
  nlohmann::json args() const override { return nlohmann::json::object(); }
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;

 private:
  Shape in_shape_;
};

}  // namespace perceptra
