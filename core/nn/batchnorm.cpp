#include "core/nn/batchnorm.h"

#include <cmath>

#include "core/nn/layer_util.h"

namespace perceptra {

BatchNorm::BatchNorm(bool spatial, int channels, float eps, float momentum, bool affine)
    : spatial_(spatial), C_(channels), eps_(eps), momentum_(momentum), affine_(affine) {
  weight_ = make_parameter("weight", {C_}, false);
  bias_ = make_parameter("bias", {C_}, false);
  weight_.value.fill(1.f);
  if (!affine_) {  // constant gamma=1, beta=0 fed to the kernels, not parameters
    weight_.grad = Tensor();
    bias_.grad = Tensor();
    weight_.trainable = bias_.trainable = false;
  }
  running_mean_ = make_buffer("running_mean", {C_}, 0.f);
  running_var_ = make_buffer("running_var", {C_}, 1.f);
}

nlohmann::json BatchNorm::args() const { return {{"eps", eps_}, {"momentum", momentum_}, {"affine", affine_}}; }

Shape BatchNorm::output_shape(const Shape& in) const {
  const std::string where = layer_where(*this);
  if (spatial_ && in.rank() != 4)
    throw InputError(where, "expects an image input [channels, height, width] but gets " + in.sample().str() +
                                " - use batchnorm1d for flat inputs");
  if (!spatial_ && in.rank() != 2 && in.rank() != 3)
    throw InputError(where, "expects [features] or [channels, length] but gets " + in.sample().str() +
                                (in.rank() == 4 ? " - use batchnorm2d for images" : ""));
  if (in[1] != C_)
    throw InputError(where, "expects " + std::to_string(C_) + " channels but gets " + std::to_string(in[1]));
  return in;
}

static int plane_size(const Shape& s) {
  int64_t hw = 1;
  for (int i = 2; i < s.rank(); ++i) hw *= s[i];
  return static_cast<int>(hw);
}

void BatchNorm::eval_scale_shift(std::vector<double>& scale, std::vector<double>& shift) const {
  const std::vector<float> mean = running_mean_.value.to_vector(), var = running_var_.value.to_vector();
  std::vector<float> gamma(size_t(C_), 1.f), beta(size_t(C_), 0.f);
  if (affine_) {
    gamma = weight_.value.to_vector();
    beta = bias_.value.to_vector();
  }
  scale.resize(size_t(C_));
  shift.resize(size_t(C_));
  for (size_t c = 0; c < size_t(C_); ++c) {
    scale[c] = double(gamma[c]) / std::sqrt(double(var[c]) + double(eps_));
    shift[c] = double(beta[c]) - double(mean[c]) * scale[c];
  }
}

Tensor BatchNorm::forward(const Tensor& x, bool training) {
  output_shape(x.shape());
  Backend& be = backend_for(x.device());
  int N = to_int(x.dim(0)), HW = plane_size(x.shape());
  Tensor y = Tensor::empty(x.shape(), x.device());
  if (training) {
    if (static_cast<int64_t>(N) * HW < 2)
      throw Error(layer_where(*this) +
                  ": training needs more than one value per channel (batch of 1 without "
                  "spatial size) - use a larger batch");
    save_mean_ = Tensor::empty({C_}, x.device());
    save_invstd_ = Tensor::empty({C_}, x.device());
    be.batchnorm_forward_train(x.data(), y.data(), weight_.value.data(), bias_.value.data(), save_mean_.data(),
                               save_invstd_.data(), running_mean_.value.data(), running_var_.value.data(), N, C_, HW,
                               momentum_, eps_);
  } else {
    be.batchnorm_forward_eval(x.data(), y.data(), weight_.value.data(), bias_.value.data(), running_mean_.value.data(),
                              running_var_.value.data(), N, C_, HW, eps_);
  }
  x_ = x;
  cached_training_ = training;
  return y;
}

Tensor BatchNorm::backward(const Tensor& dy) {
  PCHECK(x_.defined(), layer_where(*this) + ": backward before forward");
  if (!cached_training_) return backward_eval(dy);
  int N = to_int(x_.dim(0)), HW = plane_size(x_.shape());
  Tensor dx = Tensor::empty(x_.shape(), dy.device());
  Tensor dgamma = affine_ ? weight_.grad : Tensor::empty({C_}, dy.device());
  Tensor dbeta = affine_ ? bias_.grad : Tensor::empty({C_}, dy.device());
  backend_for(dy.device())
      .batchnorm_backward(x_.data(), dy.data(), weight_.value.data(), save_mean_.data(), save_invstd_.data(), dx.data(),
                          dgamma.data(), dbeta.data(), N, C_, HW);
  return dx;
}

// Eval mode is a fixed per-channel affine map y = (x - rm) * s * gamma + beta
// with s = 1/sqrt(rv + eps): dx = dy * gamma * s. Used by saliency maps and
// gradient checks of eval-mode models; training always runs backward() in
// train mode.
Tensor BatchNorm::backward_eval(const Tensor& dy) {
  Backend& be = backend_for(dy.device());
  int N = to_int(x_.dim(0)), HW = plane_size(x_.shape());
  size_t n = static_cast<size_t>(x_.numel());
  std::vector<float> gamma = weight_.value.to_vector(), rv = running_var_.value.to_vector();
  std::vector<float> inv(C_), scale(C_);
  for (int c = 0; c < C_; ++c) {
    inv[c] = 1.f / std::sqrt(rv[c] + eps_);
    scale[c] = gamma[c] * inv[c];
  }
  Tensor zero = Tensor::zeros({C_}, dy.device());
  Tensor scale_t = Tensor::from_vector({C_}, scale, dy.device());
  Tensor dx = Tensor::empty(x_.shape(), dy.device());
  be.normalize_channels(dy.data(), dx.data(), zero.data(), scale_t.data(), N, C_, HW);
  if (affine_) {
    // Per-channel sums over [N, C, HW]: plane means, then column sums times HW.
    Tensor plane = Tensor::empty({N, C_}, dy.device());
    be.global_avgpool_forward(dy.data(), plane.data(), N * C_, HW);
    be.sum_rows(plane.data(), bias_.grad.data(), N, C_, 0.f);
    be.scale(bias_.grad.data(), static_cast<float>(HW), C_);
    Tensor xhat = Tensor::empty(x_.shape(), dy.device());
    Tensor inv_t = Tensor::from_vector({C_}, inv, dy.device());
    be.normalize_channels(x_.data(), xhat.data(), running_mean_.value.data(), inv_t.data(), N, C_, HW);
    be.mul(xhat.data(), dy.data(), xhat.data(), n);
    be.global_avgpool_forward(xhat.data(), plane.data(), N * C_, HW);
    be.sum_rows(plane.data(), weight_.grad.data(), N, C_, 0.f);
    be.scale(weight_.grad.data(), static_cast<float>(HW), C_);
  }
  return dx;
}

std::vector<Parameter*> BatchNorm::parameters() {
  if (affine_) return {&weight_, &bias_, &running_mean_, &running_var_};
  return {&running_mean_, &running_var_};
}

void BatchNorm::to(Device device) {
  Layer::to(device);
  if (!affine_) {
    weight_.value = weight_.value.to(device);
    bias_.value = bias_.value.to(device);
  }
}

void BatchNorm::reset_parameters(Rng& /*rng*/) {
  weight_.value.fill(1.f);
  bias_.value.fill(0.f);
  running_mean_.value.fill(0.f);
  running_var_.value.fill(1.f);
}

}  // namespace perceptra
