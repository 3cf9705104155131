#include "core/nn/batchnorm.h"

#include <cmath>
#include <vector>

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

float BatchNorm::update_momentum() {
  if (cumulative_batches_ < 0) return momentum_;
  return 1.f / float(++cumulative_batches_);
}

Tensor BatchNorm::forward_relu(const Tensor& x) {
  PCHECK(!sync_, layer_where(*this) + ": a synchronised batch norm runs its ReLU separately");
  struct Off {  // also when forward throws (a batch of one value per channel)
    bool& on;
    ~Off() { on = false; }
  } off{relu_};
  relu_ = true;
  relu_y_ = forward(x, true);
  return relu_y_;
}

Tensor BatchNorm::forward_add(const Tensor& x, const Tensor& add, bool relu) {
  PCHECK(!sync_, layer_where(*this) + ": a synchronised batch norm adds its shortcut separately");
  PCHECK(add.shape() == x.shape() && add.device() == x.device(),
         layer_where(*this) + ": the sum's other operand is " + add.shape().str() + ", the output " + x.shape().str());
  const Tensor a = add.in_channel_block(x.channel_block());  // the output's layout
  struct Off {                                               // also when forward throws
    BatchNorm& bn;
    ~Off() {
      bn.relu_ = false;
      bn.add_ = nullptr;
    }
  } off{*this};
  relu_ = relu;
  add_ = &a;
  return forward(x, true);
}

Tensor BatchNorm::forward(const Tensor& input, bool training) {
  relu_y_ = Tensor();  // forward_relu sets it after this returns
  // Training keeps a channel-blocked input blocked (the CPU's kernels take
  // it); evaluation and SyncBN work on NCHW.
  const Tensor x = training && !sync_ ? input : input.in_channel_block(1);
  output_shape(x.shape());
  Backend& be = backend_for(x.device());
  int N = to_int(x.dim(0)), HW = plane_size(x.shape());
  if (training && sync_) {
    Tensor y = forward_train_synced(x);
    x_ = x;
    cached_training_ = true;
    return y;
  }
  const int block = x.channel_block();
  Tensor y = Tensor::empty(x.shape(), x.device()).with_channel_block(block);
  if (training) {
    if (static_cast<int64_t>(N) * HW < 2)
      throw Error(layer_where(*this) +
                  ": training needs more than one value per channel (batch of 1 without "
                  "spatial size) - use a larger batch");
    save_mean_ = Tensor::empty({C_}, x.device());
    save_invstd_ = Tensor::empty({C_}, x.device());
    be.batchnorm_forward_train(x.data(), y.data(), weight_.value.data(), bias_.value.data(), save_mean_.data(),
                               save_invstd_.data(), running_mean_.value.data(), running_var_.value.data(), N, C_, HW,
                               update_momentum(), eps_, block, relu_, add_ ? add_->data() : nullptr);
  } else {
    be.batchnorm_forward_eval(x.data(), y.data(), weight_.value.data(), bias_.value.data(), running_mean_.value.data(),
                              running_var_.value.data(), N, C_, HW, eps_);
  }
  x_ = x;
  cached_training_ = training;
  return y;
}

Tensor BatchNorm::backward(const Tensor& grad) {
  PCHECK(x_.defined(), layer_where(*this) + ": backward before forward");
  const Tensor dy = grad.in_channel_block(x_.channel_block());  // x_ is NCHW unless training blocked
  if (!cached_training_) return backward_eval(dy);
  if (sync_) return backward_synced(dy);
  int N = to_int(x_.dim(0)), HW = plane_size(x_.shape());
  const int block = x_.channel_block();
  Tensor dx = Tensor::empty(x_.shape(), dy.device()).with_channel_block(block);
  Tensor dgamma = affine_ ? weight_.grad : Tensor::empty({C_}, dy.device());
  Tensor dbeta = affine_ ? bias_.grad : Tensor::empty({C_}, dy.device());
  backend_for(dy.device())
      .batchnorm_backward(x_.data(), dy.data(), weight_.value.data(), save_mean_.data(), save_invstd_.data(), dx.data(),
                          dgamma.data(), dbeta.data(), N, C_, HW, block, relu_y_.defined() ? relu_y_.data() : nullptr,
                          bias_.value.data());
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

// SyncBN forward: global count and sum, then the global sum of squared
// deviations from the global mean (two passes, as the CPU kernel, so no
// cancellation): two allreduces of C(+1) doubles.
Tensor BatchNorm::forward_train_synced(const Tensor& x) {
  const int N = to_int(x.dim(0)), HW = plane_size(x.shape());
  const std::vector<float> xv = x.to_vector();
  std::vector<double> sums(size_t(C_) + 1, 0.0);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C_; ++c) {
      const float* xp = xv.data() + (size_t(n) * C_ + c) * HW;
      double s = 0;
      for (int i = 0; i < HW; ++i) s += xp[i];
      sums[size_t(c)] += s;
    }
  sums[size_t(C_)] = double(N) * HW;
  sync_->allreduce_sum(sums.data(), sums.size());
  const double count = sums[size_t(C_)];
  if (count < 2)
    throw Error(layer_where(*this) +
                ": training needs more than one value per channel over all ranks - use a larger batch");
  std::vector<double> mean(static_cast<size_t>(C_)), ss(size_t(C_), 0.0);
  for (int c = 0; c < C_; ++c) mean[size_t(c)] = sums[size_t(c)] / count;
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C_; ++c) {
      const float* xp = xv.data() + (size_t(n) * C_ + c) * HW;
      double s = 0;
      for (int i = 0; i < HW; ++i) s += (xp[i] - mean[size_t(c)]) * (xp[i] - mean[size_t(c)]);
      ss[size_t(c)] += s;
    }
  sync_->allreduce_sum(ss.data(), ss.size());
  sync_local_ = double(N) * HW;
  sync_global_ = count;

  std::vector<float> gamma = weight_.value.to_vector(), beta = bias_.value.to_vector();
  std::vector<float> rm = running_mean_.value.to_vector(), rv = running_var_.value.to_vector();
  const float momentum = update_momentum();
  std::vector<float> smean(static_cast<size_t>(C_)), sinv(static_cast<size_t>(C_)), a(static_cast<size_t>(C_)),
      b(static_cast<size_t>(C_));
  for (size_t c = 0; c < size_t(C_); ++c) {
    const double var = ss[c] / count;
    smean[c] = float(mean[c]);
    sinv[c] = float(1.0 / std::sqrt(var + eps_));
    rm[c] = (1.f - momentum) * rm[c] + momentum * float(mean[c]);
    rv[c] = (1.f - momentum) * rv[c] + momentum * float(ss[c] / (count - 1));
    a[c] = gamma[c] * sinv[c];
    b[c] = beta[c] - smean[c] * a[c];
  }
  std::vector<float> yv(xv.size());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C_; ++c) {
      const size_t off = (size_t(n) * C_ + c) * HW;
      for (int i = 0; i < HW; ++i) yv[off + i] = xv[off + i] * a[size_t(c)] + b[size_t(c)];
    }
  const Device dev = x.device();
  save_mean_ = Tensor::from_vector({C_}, smean, dev);
  save_invstd_ = Tensor::from_vector({C_}, sinv, dev);
  // In place: the optimizer and checkpoints hold these tensors.
  running_mean_.value.copy_from(Tensor::from_vector({C_}, rm, dev));
  running_var_.value.copy_from(Tensor::from_vector({C_}, rv, dev));
  return Tensor::from_vector(x.shape(), yv, dev);
}

// SyncBN backward. This rank's dy is the gradient of its own shard's mean
// loss, and the data-parallel step weights rank r's gradients by its share
// w_r = local/global of the batch. The gradient of the global loss through
// the global statistics needs sum(dy) and sum(dy * xhat) over all ranks in
// those units: each rank adds w_r times its sums and divides by its own
// count (w_r * global) to stay in its local units. One allreduce of 2C.
Tensor BatchNorm::backward_synced(const Tensor& dy) {
  const int N = to_int(x_.dim(0)), HW = plane_size(x_.shape());
  const std::vector<float> xv = x_.to_vector(), g = dy.to_vector();
  const std::vector<float> mean = save_mean_.to_vector(), inv = save_invstd_.to_vector();
  const std::vector<float> gamma = affine_ ? weight_.value.to_vector() : std::vector<float>(size_t(C_), 1.f);
  std::vector<double> local(2 * size_t(C_), 0.0);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C_; ++c) {
      const size_t off = (size_t(n) * C_ + c) * HW;
      double sdy = 0, sdyx = 0;
      for (int i = 0; i < HW; ++i) {
        sdy += g[off + i];
        sdyx += double(g[off + i]) * (double(xv[off + i]) - mean[size_t(c)]) * inv[size_t(c)];
      }
      local[size_t(c)] += sdy;
      local[size_t(C_ + c)] += sdyx;
    }
  std::vector<double> global(local);
  const double w = sync_global_ > 0 ? sync_local_ / sync_global_ : 0.0;
  for (auto& v : global) v *= w;
  sync_->allreduce_sum(global.data(), global.size());
  std::vector<float> dx(xv.size());
  if (sync_local_ > 0)
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C_; ++c) {
        const size_t off = (size_t(n) * C_ + c) * HW;
        const double k = double(gamma[size_t(c)]) * inv[size_t(c)];
        const double mdy = global[size_t(c)] / sync_local_, mdyx = global[size_t(C_ + c)] / sync_local_;
        for (int i = 0; i < HW; ++i) {
          const double xhat = (double(xv[off + i]) - mean[size_t(c)]) * inv[size_t(c)];
          dx[off + i] = float(k * (g[off + i] - mdy - xhat * mdyx));
        }
      }
  if (affine_) {  // this rank's own sums, as the kernel writes them
    std::vector<float> db(static_cast<size_t>(C_)), dg(static_cast<size_t>(C_));
    for (size_t c = 0; c < size_t(C_); ++c) {
      db[c] = float(local[c]);
      dg[c] = float(local[size_t(C_) + c]);
    }
    weight_.grad.copy_from(Tensor::from_vector({C_}, dg, dy.device()));
    bias_.grad.copy_from(Tensor::from_vector({C_}, db, dy.device()));
  }
  return Tensor::from_vector(x_.shape(), dx, dy.device());
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
