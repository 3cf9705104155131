#pragma once
// An int8 model: a plan over a float Model's layers in which convolutions
// (with the BatchNorm2d after them folded in) and linear layers, each with
// a ReLU after it fused, run as int8 primitives, and everything else
// (pooling, flatten, kept-float layers) as before.
//
// Data flow on the CPU: a quantised layer with a fused ReLU writes u8 NHWC
// activations (requantised to its output scale inside the primitive); max
// pooling and flatten pass them on as bytes; the next quantised layer reads
// them directly. A quantised layer without ReLU (a residual branch's last
// conv, the classifier) writes float, and a residual join adds, activates
// and requantises in one pass. Anything else gets float NCHW tensors.
//
// Other devices (CUDA) run the same plan in float: dequantised weights and
// activations rounded to the same int8 levels (fake quantisation), so the
// predictions match the CPU's int8 ones (rounding-order differences aside).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/nn/model.h"
#include "core/quant/quantize.h"

namespace perceptra {
class BatchNorm;
namespace int8 {
class ConvInt8;
class LinearInt8;
}  // namespace int8
}  // namespace perceptra

namespace perceptra::quant {

struct QuantNode {
  enum class Kind { Layer, Conv, Linear, Residual };
  Kind kind = Kind::Layer;
  std::string name;         // full layer name: "conv0", "res4.conv0", "res4"
  Layer* layer = nullptr;   // the layer (Conv2d, Linear, Residual, or any other)
  BatchNorm* bn = nullptr;  // Conv: the BatchNorm2d folded into it
  std::string bn_name;
  bool relu = false;  // Conv/Linear: ReLU fused; Residual: its post activation

  // Conv/Linear: calibration (thresholds are the largest |value| kept).
  float in_threshold = 0, out_threshold = 0;
  bool in_negative = false;  // the calibrated input had negative values
  // Conv/Linear: quantisation. Weights are the BN-folded ones.
  bool quantized = false;
  ChannelQuantized weights;
  std::vector<float> bias;  // folded bias, real units (one per output channel)
  // Set by QuantizedModel::finalize() from the thresholds and the plan:
  float in_scale = 0;  // a quantised input arriving as bytes keeps its own scale
  bool in_signed = false;
  float out_scale = 0;  // > 0: u8 output with this scale (only after a ReLU)

  // Residual
  std::vector<QuantNode> branch;
  std::vector<QuantNode> shortcut;  // empty: identity; else one Conv/Linear node

  // Built on first use (CPU int8) and dropped by finalize().
  std::shared_ptr<int8::ConvInt8> conv_int8;
  std::shared_ptr<int8::LinearInt8> linear_int8;
  Shape built_for;  // input sample shape the primitive was built for
  // CPU int8 activations this node writes, kept between calls so a batch
  // does not allocate (and zero) fresh buffers per layer: they only grow.
  // Valid until the node runs again (infer_int8 copies the result out).
  struct Scratch {
    std::shared_ptr<std::vector<uint8_t>> in_bytes, out_bytes;
    std::shared_ptr<std::vector<float>> out_float, main_nhwc, shortcut_nhwc;
  };
  Scratch scratch;
  std::shared_ptr<Tensor> sim_weight, sim_bias;  // dequantised, on the last simulated device

  bool quantizable() const { return kind == Kind::Conv || kind == Kind::Linear; }
  bool any_quantized() const;  // this node or one inside it
};

class QuantizedModel : public InferenceOverride {
 public:
  // A plan over `model`'s layers (the model must outlive it) with nothing
  // quantised yet.
  explicit QuantizedModel(Model& model);

  Model& model() { return model_; }
  std::vector<QuantNode>& nodes() { return nodes_; }
  // Every Conv/Linear node in execution order (pointers into the plan).
  std::vector<QuantNode*> quantizable();
  QuantNode* find(const std::string& name);  // null when absent

  // Folds the node's BatchNorm into its weights (double precision) and
  // quantises them per output channel; thresholds must be set. Marks it
  // quantised; call finalize() after changing the plan.
  void quantize_node(QuantNode& n);
  // Derives every node's input/output scales from thresholds and the plan.
  void finalize();

  // InferenceOverride: int8 on the CPU, the float simulation elsewhere.
  Tensor infer(const Tensor& x) override;
  std::string describe() const override;
  Tensor infer_int8(const Tensor& x);       // CPU tensors only
  Tensor infer_simulated(const Tensor& x);  // any device
  // Float inference (conv+BN+ReLU fused, nothing quantised) that reports the
  // input and output of every Conv/Linear node and each residual block's output.
  using Observer = std::function<void(const QuantNode&, bool output, const Tensor& value)>;
  Tensor infer_float(const Tensor& x, const Observer& observe);

  int quantized_count();
  int quantizable_count() { return int(quantizable().size()); }

 private:
  Model& model_;
  std::vector<QuantNode> nodes_;
};

}  // namespace perceptra::quant
