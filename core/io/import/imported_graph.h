#pragma once
// A network read from another format, ready to become a Model: its spec and
// the values of every tensor of Model::parameters() in that order.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace perceptra::import {

struct ImportedWeight {
  std::string source;  // the file's name for it (initializer, node)
  std::vector<int64_t> shape;
  std::vector<float> values;
};

struct ImportedGraph {
  nlohmann::json spec;                  // name, input, classes, layers
  std::vector<ImportedWeight> weights;  // Model::parameters() order
  std::vector<float> mean, std;         // from normalisation nodes at the input, if any
};

// ONNX: Conv, BatchNormalization, Relu, Clip, MaxPool, AveragePool,
// GlobalAveragePool, Add (residual joins, Gemm/MatMul bias), Flatten,
// Reshape, Gemm, MatMul, Dropout, Identity, Constant, 6 * HardSigmoid(x/6)
// (ReLU6 as Perceptra exports it), and Sub/Div with
// per-channel constants right at the input (normalisation). input_override
// ([C, H, W]) replaces the graph's declared input size. Anything else is an
// InputError naming the node and why.
ImportedGraph read_onnx_graph(const std::string& path, const std::vector<int64_t>& input_override);

}  // namespace perceptra::import
