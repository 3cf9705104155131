#pragma once
// Checkpoints: the model file container plus everything a resumed run needs
// to continue as the uninterrupted run would have: optimizer state tensors
// (Optimizer::state()) with its lr/momentum/group scales, epoch and global
// step, RNG states, schedule position, dropout mask counters (collected from
// the model automatically) and free-form trainer JSON. Written atomically,
// so killing the process mid-save leaves the previous checkpoint intact.
// Suggested extension: .pckpt. load_model() also accepts a checkpoint.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/io/model_file.h"
#include "core/optim/optimizer.h"

namespace perceptra {

struct CheckpointState {
  int64_t epoch = 0;                                   // epochs completed
  int64_t step = 0;                                    // global batch count
  std::map<std::string, std::string> rng;              // name -> Rng::save()
  nlohmann::json schedule = nlohmann::json::object();  // schedule kind/position
  nlohmann::json trainer = nlohmann::json::object();   // config, best metric, run id, ...
};

struct Checkpoint {
  nlohmann::json spec;
  ModelMeta meta;
  CheckpointState state;
  // {"lr", "momentum", "step_count", "lr_scales": [...]}; null without optimizer.
  nlohmann::json optimizer;
  std::vector<std::pair<std::string, Tensor>> weights;          // CPU tensors
  std::vector<std::pair<std::string, Tensor>> optimizer_state;  // CPU tensors
  nlohmann::json dropout = nlohmann::json::array();             // [{"layer", "seed", "calls"}]
};

// optimizer may be null (e.g. an LR-finder snapshot).
void save_checkpoint(const std::string& path, Model& model, Optimizer* optimizer, const ModelMeta& meta,
                     const CheckpointState& state);
// Throws InputError naming the file; a model file (not a checkpoint) is refused.
Checkpoint load_checkpoint(const std::string& path);
// Builds a fresh model from the checkpoint's spec, with its weights.
std::unique_ptr<Model> build_model(const Checkpoint& ck, Device device = Device::cpu());
// Copies weights and dropout counters into `model` (which must match the
// spec) and the optimizer state/lr/momentum/groups into `optimizer` (if
// given). `where` names the source in errors (the file path).
void restore_checkpoint(const Checkpoint& ck, Model& model, Optimizer* optimizer,
                        const std::string& where = "checkpoint");

}  // namespace perceptra
