#pragma once
// Internal helpers shared by model files and checkpoints: a model's tensors
// as container entries, and copying stored tensors back into a model.
#include <memory>
#include <string>
#include <vector>

#include "core/io/model_file.h"
#include "core/io/tensor_file.h"
#include "core/nn/model.h"

namespace perceptra {

std::vector<tensor_file::TensorRef> weight_refs(Model& model);
// Model::from_spec with errors attributed to the file.
std::unique_ptr<Model> build_from_spec(const nlohmann::json& spec, const std::string& path, Device device);
// Checks names, order and shapes against model.parameters() and copies.
void copy_weights(const tensor_file::Contents& c, Model& model, const std::string& path);

namespace detail {
// The one validation every loader (load_model, load_checkpoint,
// inspect_model_file, so predict/eval/export/resume) runs on a file before
// anything is allocated from it or indexed by it: spec present, metadata
// consistent with the spec's input channels and classes, tensor sections
// known; the stored weight elements become the build's parameter budget.
struct ValidatedHeader {
  nlohmann::json spec;
  ModelMeta meta;
  int64_t weight_elements = 0;
};
ValidatedHeader validate_contents(const tensor_file::Contents& c, const std::string& path);
// Builds the model within the file's parameter budget, then copies the
// weights (names, order and shapes checked).
std::unique_ptr<Model> build_validated(const tensor_file::Contents& c, const ValidatedHeader& v,
                                       const std::string& path, Device device);
}  // namespace detail

}  // namespace perceptra
