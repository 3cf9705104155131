#pragma once
// Layers as modules: explicit forward and backward, their parameters and
// gradients. No autograd graph: a layer caches what its backward needs during
// forward(training=true). backward() returns dL/dx and OVERWRITES (does not
// accumulate) the gradients of its own parameters.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor/tensor.h"

namespace perceptra {

// A trainable (or buffer) tensor with its gradient. Optimizers hold Parameter*
// and read `group` to pick their parameter group (discriminative LRs).
struct Parameter {
  std::string name;  // "conv1.weight", unique within a model
  Tensor value;
  Tensor grad;            // same shape/device as value; undefined for buffers
  bool trainable = true;  // false while frozen (transfer learning) or for buffers
  bool decay = true;      // weight decay applies (false for biases/BN by default)
  int group = 0;          // parameter group index
};

class Layer {
 public:
  virtual ~Layer() = default;

  // Spec type name as in model JSON ("conv2d", "linear", ...).
  virtual std::string type() const = 0;
  // Arguments as in model JSON (without "type"/"name").
  virtual nlohmann::json args() const = 0;
  // Output shape for an input shape (batch dim included, any value). Throws
  // InputError naming this layer and the mismatch.
  virtual Shape output_shape(const Shape& input) const = 0;
  virtual Tensor forward(const Tensor& x, bool training) = 0;
  // Inference only: forward(x, false) without caching anything for backward;
  // containers (Residual) fuse their layers here (core/nn/inference.h).
  virtual Tensor infer(const Tensor& x) { return forward(x, false); }
  virtual Tensor backward(const Tensor& grad_out) = 0;

  // Trainable parameters and buffers (running stats have trainable=false and
  // no grad). Pointers stay valid for the layer's lifetime.
  virtual std::vector<Parameter*> parameters() { return {}; }
  // Child layers (Residual); empty for plain layers.
  virtual std::vector<Layer*> children() { return {}; }
  // Moves parameters and buffers to a device.
  virtual void to(Device device);
  // Re-draws parameters from rng (layer's default init).
  virtual void reset_parameters(class Rng& rng) { (void)rng; }

  int64_t parameter_count();  // trainable elements, like PyTorch's numel sum
  // Whether backward() must return dL/dx. Model::backward clears it on the
  // first layer that trains when nothing before it needs a gradient (the
  // input image never does in training); layers that honour it (Linear,
  // Conv2d) then skip that product and return an undefined tensor.
  void set_input_grad_needed(bool needed) { input_grad_needed_ = needed; }
  bool input_grad_needed() const { return input_grad_needed_; }
  // Whether forward() takes a channel-blocked input (Tensor::channel_block)
  // and backward() a gradient in any block. Others get NCHW: forward_layers
  // converts before them (layer_input), and their backward returns NCHW.
  // Layers that accept return x's block from backward.
  virtual bool accepts_channel_blocks() const { return false; }
  // True when this layer or a child has a parameter the optimizer updates.
  bool has_trainable_parameters();
  const std::string& name() const { return name_; }
  void set_name(const std::string& n) { name_ = n; }

 protected:
  std::string name_;
  bool input_grad_needed_ = true;
};

using LayerPtr = std::unique_ptr<Layer>;

// x as `layer` takes it: converted to NCHW unless the layer accepts blocks.
Tensor layer_input(const Layer& layer, const Tensor& x);

}  // namespace perceptra
