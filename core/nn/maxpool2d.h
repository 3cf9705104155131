#pragma once
#include "core/nn/layer.h"
#include "core/nn/pool_options.h"

namespace perceptra {

class MaxPool2d : public Layer {
 public:
  explicit MaxPool2d(const PoolOptions& o) : o_(o) {}
  std::string type() const override { return "maxpool2d"; }
  nlohmann::json args() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
  const PoolOptions& options() const { return o_; }

 private:
  PoolOptions o_;
  Tensor x_, y_;
};

}  // namespace perceptra
