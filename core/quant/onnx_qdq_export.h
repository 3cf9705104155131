#pragma once
// QDQ ONNX export of an int8 model (the format ONNX Runtime's static
// quantisation produces): every int8 weight is an INT8 initializer behind a
// per-axis DequantizeLinear (axis 0, one scale per output channel, zero
// point 0), every quantised activation passes QuantizeLinear ->
// DequantizeLinear with the engine's scale (UINT8 after ReLU, INT8 for
// signed inputs), at exactly the points where the engine rounds. Conv/Gemm
// take the folded float bias. Layers kept float are exported as in the float
// export (their BatchNorm as BatchNormalization). Opset 13 (per-axis
// DequantizeLinear needs >= 13); checked with onnx::checker. Runtimes that
// fuse QDQ (ONNX Runtime) run it in int8; OpenCV 4.6's DNN cannot read it.
#include <string>

#include "core/io/onnx_export.h"
#include "core/quant/quantized_model.h"

namespace perceptra::quant {

std::string export_qdq_onnx_bytes(QuantizedModel& qm, const ModelMeta& meta, const OnnxExportOptions& options = {});
void export_qdq_onnx(const std::string& path, QuantizedModel& qm, const ModelMeta& meta,
                     const OnnxExportOptions& options = {});

}  // namespace perceptra::quant
