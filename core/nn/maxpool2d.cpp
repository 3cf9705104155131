#include "core/nn/pool2d.h"

#include "core/nn/layer_util.h"
#include "core/nn/spec_args.h"

namespace perceptra {

Tensor MaxPool2d::forward(const Tensor& x, bool training) {
  Tensor y = Tensor::empty(output_shape(x.shape()), x.device());
  const PoolGeometry g = pool_geometry(o_, x.shape());
  Backend& be = backend_for(x.device());
  in_shape_ = x.shape();
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

Tensor MaxPool2d::backward(const Tensor& dy) {
  PCHECK(x_.defined() || argmax_.defined(), layer_where(*this) + ": backward before forward");
  Tensor dx = Tensor::empty(in_shape_, dy.device());
  if (argmax_.defined()) {
    backend_for(dy.device())
        .maxpool2d_backward_argmax(pool_geometry(o_, in_shape_), argmax_.data(), dy.data(), dx.data());
    return dx;
  }
  backend_for(dy.device())
      .maxpool2d_backward(pool_geometry(o_, x_.shape()), x_.data(), y_.data(), dy.data(), dx.data());
  return dx;
}

}  // namespace perceptra
