#pragma once
#include "core/backend/backend.h"
#include "core/nn/init.h"
#include "core/nn/layer.h"

namespace perceptra {

// y = x W^T + b on flat inputs [N, in] (PyTorch's nn.Linear layout: W [out, in]).
class Linear : public Layer {
 public:
  Linear(int in_features, int out_features, bool bias, InitScheme init = InitScheme::Default);
  std::string type() const override { return "linear"; }
  nlohmann::json args() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
  // relu(forward(x)) as one op, the ReLU applied as the output is written
  // (training and inference fusions; the ReLU layer after it adopts y).
  Tensor forward_relu(const Tensor& x);
  // post(x W^T + b) without keeping anything for backward (inference fusion).
  Tensor infer_post(const Tensor& x, ConvPost post) const;
  std::vector<Parameter*> parameters() override;
  void reset_parameters(Rng& rng) override;

  int in_features() const { return in_; }
  int out_features() const { return out_; }

 private:
  int in_, out_;
  bool has_bias_;
  InitScheme init_;
  Parameter weight_, bias_;
  Tensor x_;
};

}  // namespace perceptra
