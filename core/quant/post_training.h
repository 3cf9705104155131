#pragma once
// Post-training static quantisation of a trained float model, and the diff
// report that says what it cost:
//   1. calibrate every quantised tensor's range on calibration images
//      (training images, already normalised) with the chosen method;
//   2. fold BatchNorm, quantise weights per output channel;
//   3. with evaluation images: per-layer sensitivity (accuracy drop when
//      only that layer is int8), and layers whose drop exceeds the threshold
//      stay float (so do the ones named in float_layers);
//   4. float vs int8 accuracy overall and per class, the images whose
//      prediction changed, and inference images/s of both.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/quant/calibration.h"
#include "core/quant/quantized_model.h"

namespace perceptra::quant {

struct LabeledImages {
  Tensor images;            // [N, ...] normalised like training, CPU
  std::vector<int> labels;  // N
};

struct PtqOptions {
  CalibrationMethod method = CalibrationMethod::Percentile;
  std::vector<std::string> float_layers;  // forced to stay float (layer names)
  // A layer stays float when quantising only it costs more than this
  // accuracy (fraction; 0.002 = 0.2 points). Negative: no automatic fallback.
  double fallback_drop = 0.002;
  int batch_size = 256;
  // Per-layer sensitivity on the first N evaluation images (0: all); one
  // pass per layer, so a deep model on a large test set may want fewer.
  int64_t sensitivity_images = 0;
  std::function<void(const std::string&)> progress;  // one line per step
};

struct PtqResult {
  std::shared_ptr<QuantizedModel> qmodel;  // refers to the model's layers
  nlohmann::json report;
};

// Throws InputError naming the calibration data or the option when the
// images are missing or do not fit the model, or a float layer is unknown.
// `eval` may be null (then no sensitivity, fallback or accuracy report).
PtqResult quantize_post_training(Model& model, const Tensor& calibration, const LabeledImages* eval,
                                 const PtqOptions& options, const std::vector<std::string>& class_names = {});

// Predicted class per row of logits from inference in batches.
std::vector<int> predict_classes(const std::function<Tensor(const Tensor&)>& infer, const Tensor& images,
                                 int batch_size, double* seconds = nullptr);

// The report as text (what `perceptra-cli quantize` prints).
std::string format_report(const nlohmann::json& report, size_t max_flips = 20);

}  // namespace perceptra::quant
