#pragma once
#include <memory>

#include "core/nn/layer.h"

namespace perceptra {

// Synchronised batch statistics (SyncBN) for data-parallel training: the
// per-channel sums of a training forward (count, sum, squared deviations)
// and backward (gradient sums) are added over all ranks, so every rank
// normalises with the global batch's mean and variance and back-propagates
// through them. core/dist implements it over its communicator; every rank
// must run the same training forwards and backwards (collective calls).
class BatchNormSync {
 public:
  virtual ~BatchNormSync() = default;
  // In-place element-wise sum over the ranks.
  virtual void allreduce_sum(double* data, size_t count) = 0;
};

// Batch normalisation over channels (PyTorch semantics): training normalises
// with batch statistics and updates running_mean/running_var (unbiased) with
// `momentum`; eval uses the running statistics. BatchNorm1d takes [N, C] or
// [N, C, L]; BatchNorm2d takes [N, C, H, W]. Parameters: weight (gamma),
// bias (beta) when affine; buffers running_mean, running_var.
class BatchNorm : public Layer {
 public:
  BatchNorm(bool spatial, int channels, float eps = 1e-5f, float momentum = 0.1f, bool affine = true);
  std::string type() const override { return spatial_ ? "batchnorm2d" : "batchnorm1d"; }
  nlohmann::json args() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
  bool accepts_channel_blocks() const override { return true; }
  // Training forward followed by a ReLU in the same pass (core/nn/
  // train_fusion.h): returns relu(bn(x)); backward masks its gradient by
  // that output first, so the ReLU layer passes its gradient on. Not for a
  // synchronised batch norm.
  Tensor forward_relu(const Tensor& x);
  // Training forward that adds `add` (the output's shape) to bn(x), then
  // the ReLU when relu, in the same pass: a residual block's sum (core/nn/
  // residual.h). The backward is the plain one: the block's ReLU layer masks
  // the gradient it hands back. Not for a synchronised batch norm.
  Tensor forward_add(const Tensor& x, const Tensor& add, bool relu);
  std::vector<Parameter*> parameters() override;
  void to(Device device) override;
  void reset_parameters(Rng& rng) override;
  int channels() const { return C_; }
  // Eval mode as y = x * scale[c] + shift[c] (running statistics), for
  // folding into the convolution before it.
  void eval_scale_shift(std::vector<double>& scale, std::vector<double>& shift) const;
  float eps() const { return eps_; }
  // Training statistics over all ranks (null: this process's batch only).
  // Computed on the host in double precision.
  void set_sync(std::shared_ptr<BatchNormSync> sync) { sync_ = std::move(sync); }
  bool synced() const { return sync_ != nullptr; }
  // Precise BatchNorm (core/train/precise_bn.h): while on, each training
  // forward folds its batch statistics into a plain average of all batches
  // since the switch (PyTorch's momentum=None) instead of the exponential
  // one, so the running statistics describe the current weights.
  void set_cumulative(bool on) { cumulative_batches_ = on ? 0 : -1; }

 private:
  Tensor backward_eval(const Tensor& dy);
  Tensor forward_train_synced(const Tensor& x);
  Tensor backward_synced(const Tensor& dy);
  float update_momentum();           // this forward's running-statistics weight
  int64_t cumulative_batches_ = -1;  // -1: exponential average with momentum_
  std::shared_ptr<BatchNormSync> sync_;
  bool relu_ = false;                        // forward_relu's (or forward_add's) call of forward
  const Tensor* add_ = nullptr;              // forward_add's call of forward
  Tensor relu_y_;                            // forward_relu's output: backward's ReLU mask
  double sync_local_ = 0, sync_global_ = 0;  // values per channel of the last forward: here, over all ranks
  bool spatial_;
  int C_;
  float eps_, momentum_;
  bool affine_;
  Parameter weight_, bias_, running_mean_, running_var_;
  Tensor x_, save_mean_, save_invstd_;
  bool cached_training_ = false;
};

}  // namespace perceptra
