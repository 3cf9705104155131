#pragma once
// Shared by the Trainer, eval and the CLI: how a TrainConfig becomes data
// (source, split, normalisation) and a model spec.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/data/resolve.h"
#include "core/data/split.h"
#include "core/train/config.h"

namespace perceptra {

struct PreparedData {
  DataSource source;
  TrainValid tv;
  std::string split_note;  // "official test split" / "20% of training (seed 0)"
};

// Opens the dataset and splits it: the official test split when the data has
// one and valid_pct is unset, else valid_pct % (default 20) of training.
// `input` ([C,H,W]), when given, makes image folders decode to that channel
// count and size (a model trained elsewhere fixes them). `opened`, when
// given, is config.data already opened (by open_dataset with the options
// `input` implies): it is split without opening the data again.
PreparedData prepare_data(const TrainConfig& config, const Shape* input = nullptr,
                          std::shared_ptr<const DataSource> opened = nullptr);
// Open options that decode image folders to `input` ([C,H,W]); defaults
// (auto) for other ranks.
OpenOptions open_options_for(const Shape& input);

// A model spec from a built-in name, a spec file path or a spec object; the
// spec's input/classes must match the data (InputError naming both).
nlohmann::json resolve_model_spec(const nlohmann::json& model, const Shape& input, int classes);

// The spec file `model` names (a string that is not a built-in), else "".
// Errors about a spec from a file name the file ("typo.json: layer 0 ...").
std::string model_spec_file(const nlohmann::json& model);

}  // namespace perceptra
