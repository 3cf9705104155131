#pragma once
// A model: a sequence of layers (Residual layers hold their own branches),
// described by a JSON spec so the GUI can build, edit, save and reload it.
//
// Spec format:
//   {"name": "simplecnn", "input": [1, 28, 28], "classes": 10,
//    "layers": [{"type": "conv2d", "out_channels": 32, "kernel": 3, "padding": 1},
//               {"type": "relu"}, {"type": "maxpool2d", "kernel": 2}, ...]}
// Each layer may carry "name"; otherwise names are "<prefix><index>" with the
// index in its list and a short prefix per type (conv0, bn1, fc9, res4, relu2;
// see default_name_prefix in layer_factory.h). Parameters are
// "<layer>.<param>": "conv0.weight", "bn1.running_mean", and inside residual
// blocks "res4.conv0.weight", "res5.shortcut_conv.weight", "res5.shortcut_bn.bias".
// Indexes in error messages are the same 0-based list positions ("layer 3 (conv2d): ...").
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/layer.h"
#include "core/tensor/random.h"

namespace perceptra {

// Replaces Model::infer with another implementation of the same function
// (an int8 model: core/quant). forward() and backward() keep using the
// layers, which then hold the dequantised weights (saliency, Grad-CAM).
class InferenceOverride {
 public:
  virtual ~InferenceOverride() = default;
  virtual Tensor infer(const Tensor& x) = 0;
  virtual std::string describe() const = 0;  // "int8 (12 of 14 layers quantised)"
};

// One row of a model summary (GUI layer list, CLI, docs).
struct LayerSummary {
  int index = 0;
  std::string name, type;
  Shape output;            // per-sample shape, e.g. [32, 28, 28]
  int64_t parameters = 0;  // trainable elements
  std::string error;       // non-empty on the offending row of a bad spec
};

class Model {
 public:
  // Builds and initialises a model (Kaiming/Xavier per layer default) from
  // its spec using rng. Throws InputError naming the layer index, type and
  // field, e.g. "layer 3 (conv2d): field 'kernel' must be a positive integer".
  static std::unique_ptr<Model> from_spec(const nlohmann::json& spec, Rng& rng, Device device = Device::cpu());
  // Summary without building weights; never throws for bad layers: the first
  // offending row carries the error and later rows have no shape.
  static std::vector<LayerSummary> analyze(const nlohmann::json& spec);
  // The layers of a spec built only for their shapes and counts (parameters
  // allocated but never filled, so untouched); throws like from_spec. The
  // cost estimate (model_cost.h) walks them.
  static std::vector<LayerPtr> analyze_layers(const nlohmann::json& spec);

  // Built-ins: "mlp", "lenet5", "simplecnn", "resnet-small", and torchvision's
  // "resnet18", "resnet34", "mobilenet_v2" (core/nn/builtin_torchvision.h).
  static std::vector<std::string> builtin_names();
  static nlohmann::json builtin_spec(const std::string& name, const Shape& input, int classes);

  nlohmann::json spec() const;
  const Shape& input_shape() const { return input_shape_; }  // per sample [C,H,W]
  int num_classes() const { return num_classes_; }
  Device device() const { return device_; }
  void to(Device device);

  Tensor forward(const Tensor& x, bool training);
  // Inference: the logits of forward(x, false), with conv+BatchNorm+ReLU
  // fused (core/nn/inference.h) and nothing kept for backward (backward()
  // after infer() throws; use forward(x, false) when gradients are needed).
  Tensor infer(const Tensor& x);
  // infer() runs `o` instead of the layers (null: the layers again).
  void set_inference_override(std::shared_ptr<InferenceOverride> o) { override_ = std::move(o); }
  InferenceOverride* inference_override() const { return override_.get(); }
  // Eval-mode forward that also returns a value copy of every top-level
  // layer's output (activation views, Grad-CAM).
  Tensor forward_collect(const Tensor& x, std::vector<Tensor>& outputs);
  // Backward from dL/dlogits; fills the grad of every parameter that trains
  // and returns dL/dx. need_input_grad = false (training steps): returns an
  // undefined tensor and stops at the first layer that trains, skipping its
  // input gradient and every layer before it (a frozen body costs nothing).
  Tensor backward(const Tensor& grad_logits, bool need_input_grad = true);

  std::vector<Layer*> layers();
  // All parameters and buffers in a stable order (model files rely on it).
  std::vector<Parameter*> parameters();
  int64_t parameter_count();
  std::vector<LayerSummary> summary();

 private:
  Model() = default;
  void check_input(const Tensor& x) const;
  std::vector<LayerPtr> layers_;
  nlohmann::json spec_;
  Shape input_shape_;
  int num_classes_ = 0;
  Device device_;
  bool backward_ready_ = false;  // a forward() ran since the last infer()
  std::shared_ptr<InferenceOverride> override_;
};

}  // namespace perceptra
