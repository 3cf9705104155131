#include "core/nn/flatten.h"

#include "core/nn/layer_util.h"

namespace perceptra {

Shape Flatten::output_shape(const Shape& in) const {
  if (in.rank() < 2) throw InputError(layer_where(*this), "expects a batched input");
  return {in[0], in.sample().numel()};
}

Tensor Flatten::forward(const Tensor& x, bool /*training*/) {
  in_shape_ = x.shape();
  return x.reshape(output_shape(x.shape()));
}

Tensor Flatten::backward(const Tensor& dy) {
  PCHECK(in_shape_.rank() >= 2, layer_where(*this) + ": backward before forward");
  return dy.reshape(in_shape_);
}

}  // namespace perceptra
