#include "core/nn/linear.h"

#include "core/nn/layer_util.h"

namespace perceptra {

Linear::Linear(int in_features, int out_features, bool bias, InitScheme init)
    : in_(in_features), out_(out_features), has_bias_(bias), init_(init) {
  weight_ = make_parameter("weight", {out_, in_}, true);
  if (has_bias_) bias_ = make_parameter("bias", {out_}, false);
}

nlohmann::json Linear::args() const {
  nlohmann::json j = {{"out_features", out_}, {"bias", has_bias_}};
  if (init_ != InitScheme::Default) j["init"] = init_scheme_name(init_);
  return j;
}

Shape Linear::output_shape(const Shape& in) const {
  if (in.rank() != 2)
    throw InputError(layer_where(*this),
                     "expects a flat input [features] but gets " + in.sample().str() + " - add a flatten layer");
  if (in[1] != in_)
    throw InputError(layer_where(*this),
                     "expects " + std::to_string(in_) + " input features but gets " + std::to_string(in[1]));
  return {in[0], out_};
}

Tensor Linear::forward(const Tensor& x, bool /*training*/) {
  Tensor y = infer_post(x, ConvPost::None);
  x_ = x;
  return y;
}

Tensor Linear::forward_relu(const Tensor& x) {
  Tensor y = infer_post(x, ConvPost::ReLU);
  x_ = x;
  return y;
}

Tensor Linear::infer_post(const Tensor& x, ConvPost post) const {
  Tensor y = Tensor::empty(output_shape(x.shape()), x.device());
  backend_for(x.device())
      .linear_forward(to_int(x.dim(0)), in_, out_, x.data(), weight_.value.data(),
                      has_bias_ ? bias_.value.data() : nullptr, post, y.data());
  return y;
}

Tensor Linear::backward(const Tensor& dy) {
  PCHECK(x_.defined(), layer_where(*this) + ": backward before forward");
  Backend& be = backend_for(dy.device());
  int N = to_int(x_.dim(0));
  // dW[out,in] = dy^T[out,N] x[N,in]; db = column sums of dy; dx = dy W.
  be.gemm(true, false, out_, in_, N, 1.f, dy.data(), out_, x_.data(), in_, 0.f, weight_.grad.data(), in_);
  if (has_bias_) be.sum_rows(dy.data(), bias_.grad.data(), N, out_, 0.f);
  if (!input_grad_needed_) return Tensor();
  Tensor dx = Tensor::empty(x_.shape(), dy.device());
  be.gemm(false, false, N, in_, out_, 1.f, dy.data(), out_, weight_.value.data(), in_, 0.f, dx.data(), in_);
  return dx;
}

std::vector<Parameter*> Linear::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

void Linear::reset_parameters(Rng& rng) {
  init_weight_and_bias(init_, weight_.value, has_bias_ ? &bias_.value : nullptr, rng);
}

}  // namespace perceptra
