#pragma once
// What max and average pooling share: window options, their JSON arguments
// and shape inference. Subclasses differ only in the backend ops they call.
#include "core/nn/layer.h"
#include "core/nn/pool_options.h"

namespace perceptra {

class Pool2d : public Layer {
 public:
  explicit Pool2d(const PoolOptions& o) : o_(o) {}
  nlohmann::json args() const override;
  Shape output_shape(const Shape& input) const override;
  const PoolOptions& options() const { return o_; }

 protected:
  PoolOptions o_;
  Tensor x_;
};

class MaxPool2d : public Pool2d {
 public:
  using Pool2d::Pool2d;
  std::string type() const override { return "maxpool2d"; }
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
  // Training pools channel-blocked inputs in their layout.
  bool accepts_channel_blocks() const override { return true; }
  // Training after a ReLU (core/nn/train_fusion.h): backward masks its
  // gradient by y > 0 before scattering it, which is the ReLU's own mask at
  // each window's argmax (y is the ReLU output there), so the ReLU's backward
  // pass over the 4x larger input becomes a pass over y. `y` is this step's
  // output.
  void mask_gradient_by_output(const Tensor& y);
  // The convolution before this pooling (and the ReLU between) ran it
  // (Conv2d::forward_relu_maxpool): until the next forward, backward hands
  // the pooled gradient back unchanged for that convolution to take.
  void pass_gradient_to_fused_conv(const Shape& in_shape, const Shape& out_shape);

 private:
  // Training, where the backend records argmaxes: argmax_ only (x_ and y_
  // released, y_ kept when masking). Otherwise backward finds each window's
  // maximum again from x_ and y_.
  Tensor y_, argmax_;
  Shape in_shape_;
  bool relu_mask_ = false;
  bool fused_ = false;  // pass_gradient_to_fused_conv
  Shape out_shape_;     // ... and the output it stands for
  int block_ = 1;       // the forward's channel block (x, y, argmax, gradients)
};

class AvgPool2d : public Pool2d {
 public:
  using Pool2d::Pool2d;
  std::string type() const override { return "avgpool2d"; }
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
};

}  // namespace perceptra
