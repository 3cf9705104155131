#pragma once
#include "core/backend/backend.h"
#include "core/nn/init.h"
#include "core/nn/layer.h"

namespace perceptra {

struct Conv2dOptions {
  int in_channels = 1, out_channels = 1;
  int kh = 3, kw = 3, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int groups = 1;
  bool bias = true;
  InitScheme init = InitScheme::Default;
};

// 2-D convolution (cross-correlation, as PyTorch) on [N, C, H, W]; weights
// [K, C/groups, kh, kw]. The work is the backend's conv2d_forward/backward.
class Conv2d : public Layer {
 public:
  explicit Conv2d(const Conv2dOptions& o);
  std::string type() const override { return "conv2d"; }
  nlohmann::json args() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
  bool accepts_channel_blocks() const override { return true; }
  std::vector<Parameter*> parameters() override;
  void reset_parameters(Rng& rng) override;
  const Conv2dOptions& options() const { return o_; }
  // Inference: post(bn(conv(x))) as one convolution, the eval-mode
  // BatchNorm folded into weights and bias, the activation (none, ReLU or
  // ReLU6) a post-op; bn may be null. Caches nothing outside a held pass.
  Tensor infer_fused(const Tensor& x, const class BatchNorm* bn, ConvPost post) const;
  Tensor infer_fused(const Tensor& x, const class BatchNorm* bn, bool relu) const {
    return infer_fused(x, bn, relu ? ConvPost::ReLU : ConvPost::None);
  }
  // What infer_fused runs for an input of shape `in` on `device`: the
  // geometry and the weights and bias with bn folded in (bias undefined when
  // there is none). Inference chains (core/nn/inference.cpp) use it. During
  // a held pass (WeightsHeld) a layer's folded weights are made once per
  // pass and thread, at one address.
  struct Folded {
    ConvGeometry g;
    Tensor w, b;
  };
  Folded fold(const Shape& in, const class BatchNorm* bn, Device device) const;
  // Training forward followed by a ReLU in one pass (core/nn/train_fusion.h):
  // caches x for backward like forward(); returns relu(conv(x)).
  Tensor forward_relu(const Tensor& x);
  // Training forward with the ReLU after it and a 2x2/stride-2 max pooling
  // after that (`pool`) as one backend op, where the backend fuses this
  // geometry (Backend::fuses_conv_relu_maxpool: on the CPU a one-channel
  // first layer); an undefined Tensor, nothing run, where it does not.
  // Returns the pooled output; `pool` then passes the pooled gradient back
  // to this layer's backward, which takes the weight gradient from it.
  Tensor forward_relu_maxpool(const Tensor& x, class MaxPool2d& pool);
  // backward(grad_out) + add, add in the input's shape: a residual block's
  // shortcut gradient, which the backend may add as it writes dx (the CPU's
  // Winograd input gradient). An undefined Tensor, nothing run, where this
  // layer cannot (no input gradient wanted, or after forward_relu_maxpool).
  Tensor backward_adding(const Tensor& grad_out, const Tensor& add);
  // geometry() with x's channel block in and, when training, the backend's
  // preferred one out.
  ConvGeometry training_geometry(const Tensor& x, bool training) const;

 private:
  ConvGeometry geometry(const Shape& in) const;
  Tensor backward_pooled(const Tensor& grad);
  // After forward() or forward_relu(): dx (when wanted) plus `add` (in x's
  // block) when defined, and the parameters' gradients.
  Tensor backward_plain(const Tensor& dy, const Tensor& add);
  Conv2dOptions o_;
  Parameter weight_, bias_;
  Tensor x_;
  // Set by forward_relu_maxpool (the pooled output and its argmax, the
  // geometry it ran); undefined after forward() or forward_relu().
  Tensor pooled_y_, pooled_argmax_;
  ConvGeometry pooled_g_;
};

}  // namespace perceptra
