#include "core/nn/activation.h"

#include "core/nn/layer_util.h"

namespace perceptra {

std::string ActivationLayer::type() const {
  switch (kind_) {
    case Activation::ReLU:
      return "relu";
    case Activation::LeakyReLU:
      return "leaky_relu";
    case Activation::GELU:
      return "gelu";
    case Activation::Sigmoid:
      return "sigmoid";
    case Activation::Tanh:
      return "tanh";
    case Activation::ReLU6:
      return "relu6";
  }
  return "relu";
}

nlohmann::json ActivationLayer::args() const {
  if (kind_ == Activation::LeakyReLU) return {{"slope", slope_}};
  return nlohmann::json::object();
}

Tensor ActivationLayer::forward(const Tensor& x, bool /*training*/) {
  Tensor y = Tensor::empty(x.shape(), x.device()).with_channel_block(x.channel_block());  // elementwise: any layout
  backend_for(x.device()).activation_forward(kind_, slope_, x.data(), y.data(), static_cast<size_t>(x.numel()));
  // y stands in for x where the gradient allows (keeps_input), so the input
  // can be freed (MobileNetV2: one batch-norm output per ReLU6 less to keep).
  x_ = keeps_input() ? x : y;
  y_ = y;
  mask_deferred_ = false;
  return y;
}

void ActivationLayer::adopt_relu_output(const Tensor& y) {
  PCHECK(kind_ == Activation::ReLU, layer_where(*this) + ": only a ReLU can adopt a fused output");
  x_ = y;
  y_ = y;
  mask_deferred_ = false;
}

void ActivationLayer::defer_mask() {
  PCHECK(kind_ == Activation::ReLU && y_.defined(), layer_where(*this) + ": only a ReLU that ran can defer its mask");
  mask_deferred_ = true;
}

Tensor ActivationLayer::backward(const Tensor& grad) {
  PCHECK(x_.defined(), layer_where(*this) + ": backward before forward");
  PCHECK(grad.shape() == x_.shape(),
         layer_where(*this) + ": gradient shape " + grad.shape().str() + " does not match output " + x_.shape().str());
  // Masked by the pooling after us (in its layout; a convolution before us
  // takes any block) or by the batch norm before us.
  if (mask_deferred_) return grad;
  const Tensor dy = grad.in_channel_block(x_.channel_block());
  Tensor dx = Tensor::empty(x_.shape(), dy.device()).with_channel_block(x_.channel_block());
  backend_for(dy.device())
      .activation_backward(kind_, slope_, x_.data(), y_.data(), dy.data(), dx.data(), static_cast<size_t>(dy.numel()));
  return dx;
}

}  // namespace perceptra
