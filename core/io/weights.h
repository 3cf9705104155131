#pragma once
// Internal helpers shared by model files and checkpoints: a model's tensors
// as container entries, and copying stored tensors back into a model.
#include <memory>
#include <string>
#include <vector>

#include "core/io/tensor_file.h"
#include "core/nn/model.h"

namespace perceptra {

std::vector<tensor_file::TensorRef> weight_refs(Model& model);
// Model::from_spec with errors attributed to the file.
std::unique_ptr<Model> build_from_spec(const nlohmann::json& spec, const std::string& path,
                                       Device device);
// Checks names, order and shapes against model.parameters() and copies.
void copy_weights(const tensor_file::Contents& c, Model& model, const std::string& path);

}  // namespace perceptra
