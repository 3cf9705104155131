#pragma once
#include "core/nn/layer.h"

namespace perceptra {

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
  std::vector<Parameter*> parameters() override;
  void to(Device device) override;
  void reset_parameters(Rng& rng) override;
  int channels() const { return C_; }
  // Eval mode as y = x * scale[c] + shift[c] (running statistics), for
  // folding into the convolution before it.
  void eval_scale_shift(std::vector<double>& scale, std::vector<double>& shift) const;
  float eps() const { return eps_; }

 private:
  Tensor backward_eval(const Tensor& dy);
  bool spatial_;
  int C_;
  float eps_, momentum_;
  bool affine_;
  Parameter weight_, bias_, running_mean_, running_var_;
  Tensor x_, save_mean_, save_invstd_;
  bool cached_training_ = false;
};

}  // namespace perceptra
