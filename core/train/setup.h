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

struct SourceIdentities;

struct PreparedData {
  DataSource source;  // with a dataset version: its curated views
  TrainValid tv;
  std::string split_note;  // "official test split" / "20% of training (seed 0)"
  // The dataset version trained on (core/curate): its store key (the
  // resolved location) and number, 0 for the files as they are. `ids`,
  // the images' identities, is filled when a version was applied (else the
  // ledger computes it at the end of the run).
  std::string dataset_key;
  int64_t dataset_version = 0;
  std::shared_ptr<const SourceIdentities> ids;
};

// Opens the dataset and splits it: the official test split when the data has
// one and valid_pct is unset, else valid_pct % (default 20) of training.
// Image folders decode to config.image_size with config.resize; `input`
// ([C,H,W]), when given, fixes their channel count and size instead (a model
// trained elsewhere). Resized images that do not fit in memory are cached
// on disk next to the experiment store (image_cache_dir). `opened`, when
// given, is config.data already opened (by open_dataset with the options
// those imply): it is split without opening the data again.
// config.data "NAME@N" / "NAME@latest" applies dataset version N of the
// store at config.db_path on top of the opened data (curated views; the
// files are not touched); `opened` is then NAME opened.
PreparedData prepare_data(const TrainConfig& config, const Shape* input = nullptr,
                          std::shared_ptr<const DataSource> opened = nullptr);
// Open options that decode image folders to `input` ([C,H,W]) with `resize`
// (a policy name; "" = squish, what models saved without one were trained
// with); defaults (auto) for other ranks.
OpenOptions open_options_for(const Shape& input, const std::string& resize = "");
// The on-disk cache of resized images for a store path (TrainConfig::db_path
// semantics): <folder of the database>/image-cache; "" when there is no store.
std::string image_cache_dir(const std::string& db_path);

// A model spec from a built-in name, a spec file path or a spec object; the
// spec's input/classes must match the data (InputError naming both).
nlohmann::json resolve_model_spec(const nlohmann::json& model, const Shape& input, int classes);

// The spec file `model` names (a string that is not a built-in), else "".
// Errors about a spec from a file name the file ("typo.json: layer 0 ...").
std::string model_spec_file(const nlohmann::json& model);

}  // namespace perceptra
