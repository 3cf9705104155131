#include "core/nn/conv2d.h"

#include <vector>

#include "core/backend/backend.h"
#include "core/nn/batchnorm.h"
#include "core/nn/pool2d.h"

#include "core/nn/layer_util.h"
#include "core/nn/spec_args.h"

namespace perceptra {

Conv2d::Conv2d(const Conv2dOptions& o) : o_(o) {
  PCHECK(o_.groups >= 1 && o_.in_channels % o_.groups == 0 && o_.out_channels % o_.groups == 0,
         "conv2d: channels must be divisible by groups");
  weight_ = make_parameter("weight", {o_.out_channels, o_.in_channels / o_.groups, o_.kh, o_.kw}, true);
  if (o_.bias) bias_ = make_parameter("bias", {o_.out_channels}, false);
}

nlohmann::json Conv2d::args() const {
  nlohmann::json j = {{"out_channels", o_.out_channels},
                      {"kernel", pair_json(o_.kh, o_.kw)},
                      {"stride", pair_json(o_.sh, o_.sw)},
                      {"padding", pair_json(o_.ph, o_.pw)},
                      {"dilation", pair_json(o_.dh, o_.dw)},
                      {"groups", o_.groups},
                      {"bias", o_.bias}};
  if (o_.init != InitScheme::Default) j["init"] = init_scheme_name(o_.init);
  return j;
}

Shape Conv2d::output_shape(const Shape& in) const {
  const std::string where = layer_where(*this);
  if (in.rank() != 4)
    throw InputError(where, "expects an image input [channels, height, width] but gets " + in.sample().str());
  if (in[1] != o_.in_channels)
    throw InputError(where,
                     "expects " + std::to_string(o_.in_channels) + " input channels but gets " + std::to_string(in[1]));
  // 64-bit: dilation * (kernel - 1) overflows int for spec values near 2^30.
  const int64_t span_h = int64_t(o_.dh) * (o_.kh - 1) + 1, span_w = int64_t(o_.dw) * (o_.kw - 1) + 1;
  const int64_t padded_h = in[2] + 2 * int64_t(o_.ph), padded_w = in[3] + 2 * int64_t(o_.pw);
  // The backend computes geometry in int: keep every extent far below 2^31.
  constexpr int64_t kMaxExtent = int64_t(1) << 24;
  if (padded_h > kMaxExtent || padded_w > kMaxExtent || span_h > kMaxExtent || span_w > kMaxExtent)
    throw InputError(where,
                     "field 'kernel'/'padding'/'dilation' span more than " + std::to_string(kMaxExtent) + " pixels");
  int64_t P = (padded_h - span_h) / o_.sh + 1;
  int64_t Q = (padded_w - span_w) / o_.sw + 1;
  if (padded_h < span_h || padded_w < span_w || P <= 0 || Q <= 0)
    throw InputError(where, "field 'kernel' (" + std::to_string(o_.kh) + "x" + std::to_string(o_.kw) + ", dilation " +
                                std::to_string(o_.dh) + ") does not fit the input " + std::to_string(in[2]) + "x" +
                                std::to_string(in[3]) + " with padding " + std::to_string(o_.ph));
  return {in[0], o_.out_channels, P, Q};
}

ConvGeometry Conv2d::geometry(const Shape& in) const {
  return make_conv_geometry(to_int(in[0]), to_int(in[1]), to_int(in[2]), to_int(in[3]), o_.out_channels, o_.kh, o_.kw,
                            o_.sh, o_.sw, o_.ph, o_.pw, o_.dh, o_.dw, o_.groups);
}

ConvGeometry Conv2d::training_geometry(const Tensor& x, bool training) const {
  ConvGeometry g = geometry(x.shape());
  g.in_block = x.channel_block();
  // Training writes the backend's preferred block for the layers after it;
  // inference and evaluation outputs are NCHW for whoever reads them.
  g.out_block = training ? backend_for(x.device()).activation_channel_block(o_.out_channels) : 1;
  return g;
}

Tensor Conv2d::forward(const Tensor& x, bool training) {
  const ConvGeometry g = training_geometry(x, training);
  Tensor y = Tensor::empty(output_shape(x.shape()), x.device()).with_channel_block(g.out_block);
  backend_for(x.device())
      .conv2d_forward(g, x.data(), weight_.value.data(), o_.bias ? bias_.value.data() : nullptr, y.data());
  x_ = x;
  pooled_y_ = pooled_argmax_ = Tensor();
  return y;
}

Tensor Conv2d::forward_relu(const Tensor& x) {
  const ConvGeometry g = training_geometry(x, true);
  Tensor y = Tensor::empty(output_shape(x.shape()), x.device()).with_channel_block(g.out_block);
  backend_for(x.device())
      .conv2d_forward_relu(g, x.data(), weight_.value.data(), o_.bias ? bias_.value.data() : nullptr, y.data());
  x_ = x;
  pooled_y_ = pooled_argmax_ = Tensor();
  return y;
}

Tensor Conv2d::forward_relu_maxpool(const Tensor& x, MaxPool2d& pool) {
  const PoolOptions& po = pool.options();
  if (po.kh != 2 || po.kw != 2 || po.sh != 2 || po.sw != 2 || po.ph != 0 || po.pw != 0) return Tensor();
  const ConvGeometry g = training_geometry(x, true);
  Backend& be = backend_for(x.device());
  if (!be.fuses_conv_relu_maxpool(g)) return Tensor();
  const Shape conv_out = output_shape(x.shape());
  const Shape pooled = pool.output_shape(conv_out);
  Tensor y = Tensor::empty(pooled, x.device()).with_channel_block(g.out_block);
  Tensor argmax = Tensor::empty({pooled.numel()}, x.device());
  be.conv2d_relu_maxpool_forward(g, x.data(), weight_.value.data(), o_.bias ? bias_.value.data() : nullptr, y.data(),
                                 argmax.data());
  x_ = x;
  pooled_y_ = y;
  pooled_argmax_ = argmax;
  pooled_g_ = g;
  pool.pass_gradient_to_fused_conv(conv_out, pooled);
  return y;
}

namespace {
// During a held pass (WeightsHeld) each layer's folded weights are made once
// and keep one address for the pass, as the hold promises its weights do: a
// backend may then keep what it prepares from them (the CPU's Winograd
// filters) for the pass. Folded per call, freed addresses came back as other
// layers' weights.
struct HeldFold {
  const Conv2d* conv;
  const BatchNorm* bn;
  Device device;
  Tensor w, b;
};
thread_local std::vector<HeldFold> t_folds;
void drop_folds() { t_folds.clear(); }
}  // namespace

Conv2d::Folded Conv2d::fold(const Shape& in, const BatchNorm* bn, Device device) const {
  if (bn)
    PCHECK(bn->channels() == o_.out_channels,
           layer_where(*this) + ": folded BatchNorm has " + std::to_string(bn->channels()) + " channels");
  Tensor w = weight_.value, b = o_.bias ? bias_.value : Tensor();
  const bool held = bn && weights_held();
  if (held)
    for (const HeldFold& f : t_folds)
      if (f.conv == this && f.bn == bn && f.device == device) return {geometry(in), f.w, f.b};
  if (bn) {
    // w'[k] = w[k] * scale[k], b'[k] = b[k] * scale[k] + shift[k], in double;
    // a few thousand values against a whole batch of convolution.
    std::vector<double> scale, shift;
    bn->eval_scale_shift(scale, shift);
    std::vector<float> wv = weight_.value.to_vector(), bv(size_t(o_.out_channels), 0.f);
    if (o_.bias) bv = bias_.value.to_vector();
    const size_t per_k = wv.size() / size_t(o_.out_channels);
    for (size_t k = 0; k < size_t(o_.out_channels); ++k) {
      for (size_t i = 0; i < per_k; ++i) wv[k * per_k + i] = float(wv[k * per_k + i] * scale[k]);
      bv[k] = float(bv[k] * scale[k] + shift[k]);
    }
    w = Tensor::from_vector(weight_.value.shape(), wv).to(device);
    b = Tensor::from_vector({o_.out_channels}, bv).to(device);
  }
  if (held) {
    static const bool registered = (on_weights_released(drop_folds), true);
    (void)registered;
    t_folds.push_back({this, bn, device, w, b});
  }
  return {geometry(in), w, b};
}

Tensor Conv2d::infer_fused(const Tensor& x, const BatchNorm* bn, ConvPost post) const {
  const Shape out_shape = output_shape(x.shape());
  const Folded f = fold(x.shape(), bn, x.device());
  Tensor y = Tensor::empty(out_shape, x.device());
  Backend& be = backend_for(x.device());
  const float* bias = f.b.defined() ? f.b.data() : nullptr;
  if (post == ConvPost::ReLU)
    be.conv2d_forward_relu(f.g, x.data(), f.w.data(), bias, y.data());
  else if (post == ConvPost::ReLU6)
    be.conv2d_forward_relu6(f.g, x.data(), f.w.data(), bias, y.data());
  else
    be.conv2d_forward(f.g, x.data(), f.w.data(), bias, y.data());
  return y;
}

Tensor Conv2d::backward(const Tensor& dy) {
  PCHECK(x_.defined(), layer_where(*this) + ": backward before forward");
  if (pooled_argmax_.defined()) return backward_pooled(dy);
  return backward_plain(dy, Tensor());
}

Tensor Conv2d::backward_adding(const Tensor& dy, const Tensor& add) {
  PCHECK(x_.defined(), layer_where(*this) + ": backward before forward");
  if (pooled_argmax_.defined() || !input_grad_needed_) return Tensor();
  PCHECK(add.shape() == x_.shape(), layer_where(*this) + ": the gradient to add has shape " + add.shape().str() +
                                        ", the input " + x_.shape().str());
  return backward_plain(dy, add.in_channel_block(x_.channel_block()));
}

Tensor Conv2d::backward_plain(const Tensor& dy, const Tensor& add) {
  ConvGeometry g = geometry(x_.shape());
  g.in_block = x_.channel_block();  // dx in x's layout, dy in any
  g.out_block = dy.channel_block();
  Tensor dx = input_grad_needed_ ? Tensor::empty(x_.shape(), dy.device()).with_channel_block(g.in_block) : Tensor();
  backend_for(dy.device())
      .conv2d_backward(g, x_.data(), weight_.value.data(), dy.data(), dx.data(), weight_.grad.data(),
                       o_.bias ? bias_.grad.data() : nullptr, add.defined() ? add.data() : nullptr);
  return dx;
}

// After forward_relu_maxpool: dy is the pooling's output gradient.
Tensor Conv2d::backward_pooled(const Tensor& grad) {
  const ConvGeometry& g = pooled_g_;
  PCHECK(grad.shape() == pooled_y_.shape(), layer_where(*this) + ": gradient shape " + grad.shape().str() +
                                                " does not match the pooled output " + pooled_y_.shape().str());
  const Tensor dy = grad.in_channel_block(g.out_block);
  Backend& be = backend_for(dy.device());
  // The weight gradient from the fused op whether or not dx is wanted, so
  // its bits never depend on that.
  be.conv2d_relu_maxpool_backward(g, x_.data(), pooled_y_.data(), pooled_argmax_.data(), dy.data(), weight_.grad.data(),
                                  o_.bias ? bias_.grad.data() : nullptr);
  if (!input_grad_needed_) return Tensor();
  // The input's gradient too (saliency through a first layer): the ReLU's
  // mask and the pooling's scatter as the unfused layers do, then the
  // convolution's input gradient.
  Tensor masked = Tensor::empty(dy.shape(), dy.device()).with_channel_block(g.out_block);
  be.activation_backward(Activation::ReLU, 0.f, pooled_y_.data(), pooled_y_.data(), dy.data(), masked.data(),
                         size_t(dy.numel()));
  PoolGeometry pg = make_pool_geometry(g.N, g.K, g.P, g.Q, 2, 2, 2, 2, 0, 0);
  pg.block = g.out_block;
  Tensor full = Tensor::empty({g.N, g.K, g.P, g.Q}, dy.device()).with_channel_block(g.out_block);
  be.maxpool2d_backward_argmax(pg, pooled_argmax_.data(), masked.data(), full.data());
  Tensor dx = Tensor::empty(x_.shape(), dy.device()).with_channel_block(g.in_block);
  be.conv2d_backward(g, x_.data(), weight_.value.data(), full.data(), dx.data(), nullptr, nullptr);
  return dx;
}

std::vector<Parameter*> Conv2d::parameters() {
  if (o_.bias) return {&weight_, &bias_};
  return {&weight_};
}

void Conv2d::reset_parameters(Rng& rng) {
  init_weight_and_bias(o_.init, weight_.value, o_.bias ? &bias_.value : nullptr, rng);
}

}  // namespace perceptra
