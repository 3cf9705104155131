#pragma once
#include <string>
#include <vector>

#include "core/nn/activation.h"
#include "core/nn/layer.h"

namespace perceptra {

// y = act(branch(x) + shortcut(x)). The branch is a list of layers; the
// shortcut is the identity, or a projection when the branch changes the
// shape: 1x1 conv (stride matching the downsampling, no bias) + BatchNorm2d
// for images, linear (no bias) + BatchNorm1d for flat inputs. The post
// activation is relu or none. Spec:
//   {"type": "residual", "layers": [...], "shortcut": "auto"|"identity"|"projection",
//    "activation": "relu"|"none"}
class Residual : public Layer {
 public:
  // Deepest nesting of blocks inside blocks from_spec accepts.
  static constexpr int kMaxNesting = 16;
  // Builds from a spec for the batched input shape `input`; `where` is
  // "layer 4 (residual)" and nested errors read "layer 4 (residual) > layer 1 (conv2d): ...".
  static std::unique_ptr<Residual> from_spec(const nlohmann::json& spec, const Shape& input, const std::string& where);

  std::string type() const override { return "residual"; }
  nlohmann::json args() const override;
  Shape output_shape(const Shape& input) const override;
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
  bool accepts_channel_blocks() const override { return true; }
  Tensor infer(const Tensor& x) override;
  std::vector<Parameter*> parameters() override;
  std::vector<Layer*> children() override;
  void to(Device device) override;
  void reset_parameters(Rng& rng) override;

  // Names of children() relative to this block ("conv0", "shortcut_conv").
  const std::vector<std::string>& child_local_names() const { return local_names_; }
  bool has_projection() const { return proj_ != nullptr; }
  // The parts, read by the inference chains (core/nn/inference.cpp).
  const std::vector<LayerPtr>& branch() const { return branch_; }
  const Layer* projection() const { return proj_.get(); }
  const Layer* projection_norm() const { return proj_bn_.get(); }
  const ActivationLayer* activation() const { return act_.get(); }

 private:
  Residual() = default;
  std::vector<LayerPtr> branch_;
  LayerPtr proj_, proj_bn_;
  std::unique_ptr<ActivationLayer> act_;
  std::vector<std::string> local_names_;
  int x_block_ = 1;  // the forward input's channel block: backward gives dx in it
};

}  // namespace perceptra
