#include "core/nn/global_avgpool.h"

#include "core/nn/layer_util.h"

namespace perceptra {

Shape GlobalAvgPool::output_shape(const Shape& in) const {
  if (in.rank() != 4)
    throw InputError(layer_where(*this),
                     "expects an image input [channels, height, width] but gets " + in.sample().str());
  return {in[0], in[1]};
}

Tensor GlobalAvgPool::forward(const Tensor& x, bool /*training*/) {
  Tensor y = Tensor::empty(output_shape(x.shape()), x.device());
  backend_for(x.device())
      .global_avgpool_forward(x.data(), y.data(), to_int(x.dim(0) * x.dim(1)), to_int(x.dim(2) * x.dim(3)));
  in_shape_ = x.shape();
  return y;
}

Tensor GlobalAvgPool::backward(const Tensor& dy) {
  PCHECK(in_shape_.rank() == 4, layer_where(*this) + ": backward before forward");
  Tensor dx = Tensor::empty(in_shape_, dy.device());
  backend_for(dy.device())
      .global_avgpool_backward(dy.data(), dx.data(), to_int(in_shape_[0] * in_shape_[1]),
                               to_int(in_shape_[2] * in_shape_[3]));
  return dx;
}

}  // namespace perceptra
