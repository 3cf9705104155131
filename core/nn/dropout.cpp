#include "core/nn/dropout.h"

#include "core/nn/layer_util.h"
#include "core/tensor/random.h"

namespace perceptra {

Tensor Dropout::forward(const Tensor& x, bool training) {
  identity_ = !training || p_ == 0.f;
  if (identity_) return x;
  uint64_t call_seed = (static_cast<uint64_t>(hash_u32(seed_, 2 * calls_)) << 32) | hash_u32(seed_, 2 * calls_ + 1);
  ++calls_;
  Tensor y = Tensor::empty(x.shape(), x.device());
  mask_ = Tensor::empty(x.shape(), x.device());
  backend_for(x.device())
      .dropout_forward(x.data(), y.data(), mask_.data(), static_cast<size_t>(x.numel()), p_, call_seed);
  return y;
}

Tensor Dropout::backward(const Tensor& dy) {
  if (identity_) return dy;
  PCHECK(mask_.shape() == dy.shape(),
         layer_where(*this) + ": gradient shape " + dy.shape().str() + " does not match " + mask_.shape().str());
  Tensor dx = Tensor::empty(dy.shape(), dy.device());
  backend_for(dy.device()).mul(dy.data(), mask_.data(), dx.data(), static_cast<size_t>(dy.numel()));
  return dx;
}

void Dropout::reset_parameters(Rng& rng) {
  seed_ = rng.next_u64();
  calls_ = 0;
}

}  // namespace perceptra
