#pragma once
// Post-training static quantisation of a trained float model, and the diff
// report that says what it cost:
//   1. calibrate every quantised tensor's range on calibration images
//      (training images, already normalised) with the chosen method;
//   2. fold BatchNorm, quantise weights per output channel;
//   3. per-layer sensitivity (accuracy drop when only that layer is int8)
//      on held-out images (PtqOptions::sensitivity_data: training images
//      that are not calibration images, see ptq_data.h), and layers whose
//      drop is both above the threshold and above the noise stay float
//      (decide_fallback); so do the ones named in float_layers;
//   4. float vs int8 accuracy overall and per class, the images whose
//      prediction changed, and inference images/s of both.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/quant/calibration.h"
#include "core/quant/quantized_model.h"
#include "core/tensor/error.h"

namespace perceptra::quant {

struct LabeledImages {
  Tensor images;            // [N, ...] normalised like training, CPU
  std::vector<int> labels;  // N
};

struct PtqOptions {
  CalibrationMethod method = CalibrationMethod::Percentile;
  std::vector<std::string> float_layers;  // forced to stay float (layer names)
  // A layer stays float when quantising only it costs more than this
  // accuracy (fraction; 0.002 = 0.2 points) and more than fallback_z
  // standard errors of that drop (decide_fallback). Negative: no automatic
  // fallback.
  double fallback_drop = 0.002;
  double fallback_z = 2.0;
  int batch_size = 256;
  // Images the per-layer sensitivity and the fallback are decided on (not
  // owned; must outlive the call). Null: the evaluation images, which then
  // both choose the layers and grade the result (tests, small data).
  const LabeledImages* sensitivity_data = nullptr;
  // Per-layer sensitivity on the first N of those images (0: all); one
  // pass per layer, so a deep model on a large set may want fewer.
  int64_t sensitivity_images = 0;
  std::function<void(const std::string&)> progress;  // one line per step
  std::function<void(double)> progress_fraction;     // 0..1, per batch
  // Polled between batches; true stops the work with PtqCancelled.
  std::function<bool()> cancelled;
};

struct PtqCancelled : Error {
  PtqCancelled() : Error("quantisation cancelled") {}
};

// Whether quantising one layer costs real accuracy or only noise. The drop
// is measured on the same n images by both models, so it is a paired
// difference: per image d = [float right] - [int8 right] in {-1, 0, 1},
// drop = mean(d), and its standard error is sd(d)/sqrt(n) with
// var(d) = (worse + better)/n - drop^2 (worse: images only float gets
// right, better: only int8). Only the images whose outcome changed carry
// noise; the binomial error of either accuracy, sqrt(p(1-p)/n), is far
// larger (0.8 points at p = 0.85, n = 2000) and would hide real damage.
// Falls back when drop > min_drop and drop > z * se, so with no images
// changing the other way it takes more than z^2 = 4 net losses, and one
// image (1/n) never decides.
struct FallbackDecision {
  int64_t images = 0, worse = 0, better = 0;
  double drop = 0, standard_error = 0, threshold = 0;
  bool fallback = false;
};
FallbackDecision decide_fallback(const std::vector<int>& float_pred, const std::vector<int>& int8_pred,
                                 const std::vector<int>& labels, double min_drop, double z);

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
// `after_batch(rows)`, when given, runs after each batch (progress, cancel).
std::vector<int> predict_classes(const std::function<Tensor(const Tensor&)>& infer, const Tensor& images,
                                 int batch_size, double* seconds = nullptr,
                                 const std::function<void(int64_t)>& after_batch = {});

// The report as text (what `perceptra-cli quantize` prints).
std::string format_report(const nlohmann::json& report, size_t max_flips = 20);

}  // namespace perceptra::quant
