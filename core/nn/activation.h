#pragma once
#include "core/backend/backend.h"
#include "core/nn/layer.h"

namespace perceptra {

// Elementwise activations: relu, leaky_relu{slope}, gelu (exact erf form,
// PyTorch's default), sigmoid, tanh, relu6 (min(max(x, 0), 6)). Any input shape.
class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(Activation kind, float slope = 0.01f) : kind_(kind), slope_(slope) {}
  std::string type() const override;
  nlohmann::json args() const override;
  Shape output_shape(const Shape& input) const override { return input; }
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
  bool accepts_channel_blocks() const override { return true; }
  Activation kind() const { return kind_; }
  // A ReLU whose input layer already applied it (core/nn/train_fusion.h):
  // keeps y for backward in place of forward(). Its mask y > 0 equals x > 0.
  void adopt_relu_output(const Tensor& y);
  // Another layer applies this ReLU's mask: a max pooling after it, to its
  // own (4x smaller) gradient before scattering it (MaxPool2d::
  // mask_gradient_by_output), or the batch norm before it that ran the ReLU
  // (BatchNorm::forward_relu). This step's backward passes the gradient on.
  void defer_mask();
  float slope() const { return slope_; }
  // Whether training keeps the input for backward: only GELU's gradient (and
  // a leaky ReLU's with a slope <= 0) needs x; the others read y, or a mask
  // y gives as well as x (relu: y > 0; relu6: 0 < y < 6; leaky_relu: y > 0).
  bool keeps_input() const { return kind_ == Activation::GELU || (kind_ == Activation::LeakyReLU && slope_ <= 0.f); }

 private:
  Activation kind_;
  float slope_;
  Tensor x_, y_;
  bool mask_deferred_ = false;
};

}  // namespace perceptra
