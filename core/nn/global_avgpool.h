#pragma once
#include "core/nn/layer.h"

namespace perceptra {

// Mean over each channel's plane: [N, C, H, W] -> [N, C]. The output is flat
// already (PyTorch's AdaptiveAvgPool2d(1) followed by Flatten), so a linear
// layer can follow directly.
class GlobalAvgPool : public Layer {
 public:
  std::string type() const override { return "global_avgpool"; }
  nlohmann::json args() const override { return nlohmann::json::object(); }
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;

 private:
  Shape in_shape_;
};

}  // namespace perceptra
