#pragma once
// int8 models in the native .pmodel container (core/io/tensor_file.h): the
// float model's spec and metadata as usual, plus header "quantization"
// ({"format": 1, "nodes": [per conv/linear layer: quantised?, folded
// BatchNorm, fused ReLU, calibrated thresholds, scales], "residuals":
// [block output thresholds], "report": the diff report}) and tensors:
//   section "int8"    <layer>.weight        s8, the layer's weight shape (BN folded)
//   section "quant"   <layer>.weight_scale  float [out channels]
//                     <layer>.bias          float [out channels] (folded)
//   section "weights" every other parameter of the model (layers kept float,
//                     BatchNorms not folded), float32 as in float files.
// Quantised layers are not stored in float.
#include <string>

#include <nlohmann/json.hpp>

#include "core/io/model_file.h"
#include "core/quant/quantized_model.h"

namespace perceptra::quant {

void save_quantized_model(const std::string& path, QuantizedModel& qm, const ModelMeta& meta,
                          const nlohmann::json& report);

// Loads a float or an int8 model file. For an int8 file the model's
// infer() runs the int8 plan (QuantizedModel as its inference override) and
// its layers hold the dequantised weights (forward(): saliency, Grad-CAM).
// A corrupt or inconsistent int8 section is an InputError naming the file
// and the field or tensor.
LoadedModel load_any_model(const std::string& path, Device device = Device::cpu());

// The stored diff report of an int8 file (empty object for float files).
nlohmann::json quantization_report(const std::string& path);
bool is_quantized_file(const std::string& path);

}  // namespace perceptra::quant
