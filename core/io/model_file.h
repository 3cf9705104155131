#pragma once
// Native model files: a versioned, checksummed container (see tensor_file.h)
// holding the model's JSON spec, metadata (class names, normalisation,
// training info) and every tensor of Model::parameters() (weights and
// buffers such as batch-norm running statistics) in that order, by name and
// shape. Written atomically; a truncated, tampered or wrong-version file is
// refused with an InputError naming the file. Suggested extension: .pmodel
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/model.h"

namespace perceptra {

struct ModelMeta {
  std::vector<std::string> class_names;  // empty, or one per class
  // Normalisation the model was trained with, per input channel, on pixel
  // values in [0,1]: input = (pixel - mean[c]) / std[c]. Empty = none.
  std::vector<float> mean, std;
  // How image files are resized to the input (squish | crop | pad, as in
  // core/data/image_size.h); empty = squish (files saved before it existed).
  std::string resize;
  nlohmann::json training = nlohmann::json::object();  // dataset, epochs, accuracy, run id, ...
  nlohmann::json extra = nlohmann::json::object();     // anything else
  // Filled by save (ignored on input) and by load:
  std::string created_at;  // ISO 8601 UTC
  std::string perceptra_version;

  nlohmann::json to_json() const;
  // Throws InputError(where, ...) naming the bad field.
  static ModelMeta from_json(const nlohmann::json& j, const std::string& where);
};

// Throws InputError when meta does not fit the model (class count, channel
// count, non-positive std) or the file cannot be written.
void save_model(const std::string& path, Model& model, const ModelMeta& meta = {});

struct LoadedModel {
  std::unique_ptr<Model> model;
  ModelMeta meta;
};
// Accepts model files and checkpoints (their weights). Rebuilds the model
// from the stored spec and copies the stored tensors into it.
LoadedModel load_model(const std::string& path, Device device = Device::cpu());

// What a file holds, fully validated (checksum included) without building
// the model: for file dialogs, `perceptra-cli export`, the GUI's Export dock.
struct ModelFileInfo {
  std::string kind;  // "model" or "checkpoint"
  uint32_t format_version = 0;
  uint64_t file_size = 0;
  nlohmann::json spec;
  ModelMeta meta;
  size_t tensor_count = 0;
  int64_t parameter_elements = 0;  // elements of the weight tensors (incl. buffers)
};
ModelFileInfo inspect_model_file(const std::string& path);

namespace detail {
// Shared with checkpoints.
void check_meta(const Model& model, const ModelMeta& meta, const std::string& where);
void check_meta(const Shape& input, int num_classes, const ModelMeta& meta, const std::string& where);
std::string utc_now_iso();
std::string perceptra_version();
// The JSON header both files start with (spec, stamped meta, input shape,
// class count), after checking meta against the model.
nlohmann::json model_header(Model& model, const ModelMeta& meta, const std::string& where);
}  // namespace detail

}  // namespace perceptra
