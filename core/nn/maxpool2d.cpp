#include "core/nn/pool2d.h"

#include "core/nn/layer_util.h"
#include "core/nn/spec_args.h"

namespace perceptra {

Tensor MaxPool2d::forward(const Tensor& x, bool /*training*/) {
  Tensor y = Tensor::empty(output_shape(x.shape()), x.device());
  backend_for(x.device()).maxpool2d_forward(pool_geometry(o_, x.shape()), x.data(), y.data());
  x_ = x;
  y_ = y;
  return y;
}

Tensor MaxPool2d::backward(const Tensor& dy) {
  PCHECK(x_.defined(), layer_where(*this) + ": backward before forward");
  Tensor dx = Tensor::empty(x_.shape(), dy.device());
  backend_for(dy.device())
      .maxpool2d_backward(pool_geometry(o_, x_.shape()), x_.data(), y_.data(), dy.data(),
                          dx.data());
  return dx;
}

}  // namespace perceptra
