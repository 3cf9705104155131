#include "core/nn/pool2d.h"

#include "core/nn/layer_util.h"
#include "core/nn/spec_args.h"

namespace perceptra {

// Padded cells count in the average (PyTorch's count_include_pad=True).
Tensor AvgPool2d::forward(const Tensor& x, bool /*training*/) {
  Tensor y = Tensor::empty(output_shape(x.shape()), x.device());
  backend_for(x.device()).avgpool2d_forward(pool_geometry(o_, x.shape()), x.data(), y.data());
  x_ = x;
  return y;
}

Tensor AvgPool2d::backward(const Tensor& dy) {
  PCHECK(x_.defined(), layer_where(*this) + ": backward before forward");
  Tensor dx = Tensor::empty(x_.shape(), dy.device());
  backend_for(dy.device()).avgpool2d_backward(pool_geometry(o_, x_.shape()), dy.data(), dx.data());
  return dx;
}

}  // namespace perceptra
