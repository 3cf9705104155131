#include "core/nn/pool2d.h"

#include "core/nn/layer_util.h"
#include "core/nn/spec_args.h"

namespace perceptra {

Tensor MaxPool2d::forward(const Tensor& input, bool training) {
  // Training pools a channel-blocked input in its layout; evaluation (whose
  // backward compares x with y) on NCHW.
  const Tensor x = training ? input : input.in_channel_block(1);
  PoolGeometry g = pool_geometry(o_, x.shape());
  g.block = x.channel_block();
  block_ = g.block;
  Tensor y = Tensor::empty(output_shape(x.shape()), x.device()).with_channel_block(g.block);
  Backend& be = backend_for(x.device());
  in_shape_ = x.shape();
  relu_mask_ = fused_ = false;
  // Training records each window's argmax (every backend, every window);
  // eval keeps x and y, so a later backward (saliency) needs no workspace.
  if (training) {
    argmax_ = Tensor::empty({int64_t(maxpool_argmax_floats(g))}, x.device());
    be.maxpool2d_forward_argmax(g, x.data(), y.data(), argmax_.data());
    x_ = y_ = Tensor();
    return y;
  }
  be.maxpool2d_forward(g, x.data(), y.data());
  argmax_ = Tensor();
  x_ = x;
  y_ = y;
  return y;
}

void MaxPool2d::mask_gradient_by_output(const Tensor& y) {
  PCHECK(argmax_.defined() && y.shape() == output_shape(in_shape_),
         layer_where(*this) + ": only a training forward's own output can mask its gradient");
  y_ = y;
  relu_mask_ = true;
}

void MaxPool2d::pass_gradient_to_fused_conv(const Shape& in_shape, const Shape& out_shape) {
  x_ = y_ = argmax_ = Tensor();
  in_shape_ = in_shape;
  out_shape_ = out_shape;
  relu_mask_ = false;
  fused_ = true;
}

Tensor MaxPool2d::backward(const Tensor& grad) {
  if (fused_) {
    PCHECK(grad.shape() == out_shape_, layer_where(*this) + ": gradient shape " + grad.shape().str() +
                                           " does not match output " + out_shape_.str());
    return grad;
  }
  PCHECK(x_.defined() || argmax_.defined(), layer_where(*this) + ": backward before forward");
  const Tensor dy = grad.in_channel_block(block_);
  Tensor dx = Tensor::empty(in_shape_, dy.device()).with_channel_block(block_);
  if (argmax_.defined()) {
    Backend& be = backend_for(dy.device());
    Tensor g = dy;
    if (relu_mask_) {
      PCHECK(dy.shape() == y_.shape(), layer_where(*this) + ": gradient shape " + dy.shape().str() +
                                           " does not match output " + y_.shape().str());
      g = Tensor::empty(dy.shape(), dy.device()).with_channel_block(block_);
      be.activation_backward(Activation::ReLU, 0.f, y_.data(), y_.data(), dy.data(), g.data(), size_t(dy.numel()));
    }
    PoolGeometry pg = pool_geometry(o_, in_shape_);
    pg.block = block_;
    be.maxpool2d_backward_argmax(pg, argmax_.data(), g.data(), dx.data());
    return dx;
  }
  backend_for(dy.device())
      .maxpool2d_backward(pool_geometry(o_, x_.shape()), x_.data(), y_.data(), dy.data(), dx.data());
  return dx;
}

}  // namespace perceptra
