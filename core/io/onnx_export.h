#pragma once
// ONNX export (opset 13 by default) built with Debian's libonnx protobuf
// classes and validated with onnx::checker before it is written (atomically).
//
// Graph: input "input" float32 [N, C, H, W] (N symbolic), output "logits"
// [N, classes] (or "probabilities" with a final Softmax).
// Normalisation is part of the graph: with include_normalization (default)
// and mean/std in the metadata, the graph starts with Sub(mean) and Div(std)
// per channel, so a user feeds raw pixel values in [0,1]. metadata_props
// record this ("perceptra.input" explains it; "perceptra.normalization" has
// the numbers, "perceptra.class_names", "perceptra.spec").
//
// Layer mapping: linear -> Gemm (transB), conv2d -> Conv, maxpool2d ->
// MaxPool, avgpool2d -> AveragePool (with padding: an explicit zero Pad then
// an unpadded AveragePool, because the engine counts padded zeros like
// PyTorch and OpenCV 4.6 ignores count_include_pad),
// global_avgpool -> GlobalAveragePool + Flatten, relu/leaky_relu/sigmoid/tanh
// -> Relu/LeakyRelu/Sigmoid/Tanh, relu6 -> 6 * HardSigmoid(x / 6), gelu -> x * 0.5 * (1 + Erf(x / sqrt 2))
// (ONNX has no Gelu op before opset 20), batchnorm1d/2d ->
// BatchNormalization (eval mode, running statistics), dropout -> omitted
// (identity at inference), flatten -> Flatten(axis 1), residual -> its
// branch, the shortcut (identity or 1x1 Conv/Gemm + BatchNormalization), Add
// and the optional Relu. Any other layer type: InputError naming the layer.
#include <string>

#include "core/io/model_file.h"

namespace perceptra {

struct OnnxExportOptions {
  int opset = 13;                     // 13..17 (what the installed onnx checks)
  bool softmax = false;               // append Softmax: output "probabilities"
  bool include_normalization = true;  // Sub/Div graph ops from meta.mean/std
  std::string graph_name;             // default: the spec's name
};

void export_onnx(const std::string& path, Model& model, const ModelMeta& meta, const OnnxExportOptions& options = {});
// The checked, serialised ModelProto (what export_onnx writes).
std::string export_onnx_bytes(Model& model, const ModelMeta& meta, const OnnxExportOptions& options = {});

}  // namespace perceptra
