#pragma once
// Everything a training run needs, serialisable to JSON (the CLI's --config
// file, the store's hyper-parameters column, checkpoints, the GUI's form).
// from_json: missing fields keep their defaults; unknown fields, wrong types
// and bad values throw InputError("config", "field 'x' ...") naming the field.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/data/augment.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"

namespace perceptra {

// The CLI's --augment text: "flip,crop[=PAD],rotate[=DEG],color[=B],
// resized-crop[=MIN_SCALE]" (color sets brightness and contrast jitter to B;
// resized-crop is torchvision's RandomResizedCrop, area fraction MIN_SCALE..1),
// or "none". InputError("augment", ...).
AugmentOptions parse_augment(const std::string& text);

struct EarlyStoppingConfig {
  int patience = 0;  // epochs without improvement; 0 = off
  double min_delta = 0.0;
  std::string monitor = "valid_loss";  // valid_loss (lower better) | valid_accuracy
};

struct NotifyConfig {
  std::string command;      // argv split on whitespace, no shell; empty = off
  bool each_epoch = false;  // also run after every epoch
};

struct TrainConfig {
  // Data: a dataset name ("fashion-mnist", "sample") or a path, optionally
  // with a dataset version: "sample@3", "sample@latest" (core/curate).
  std::string data = "sample";
  // Percentage of training data carved out for validation. Unset: the
  // official test split when the dataset has one, else 20 %.
  std::optional<double> valid_pct;
  // Image folders: decoded to image_size ("224" or "HxW"; "auto" = the
  // folder's default, core/data/image_folder.h) with the resize policy
  // squish | crop | pad (core/data/image_size.h). Ignored by IDX/CIFAR data.
  std::string image_size = "auto";
  std::string resize = "crop";
  // Model: a built-in name, a path to a spec JSON file, or the spec itself.
  nlohmann::json model = "simplecnn";
  // Transfer learning: start from this model file; body frozen for
  // freeze_epochs, then unfrozen with discriminative LRs (lr_mult spread).
  std::string from_model;
  int freeze_epochs = 1;
  double lr_mult = 100.0;

  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  std::string fit = "plain";  // plain | one-cycle (forces the onecycle schedule)
  int epochs = 2;
  int batch_size = 128;
  uint64_t seed = 0;
  std::string device = "auto";  // auto | cpu | cuda:N
  int threads = 0;              // 0 = leave the OpenMP default
  // Arithmetic of matrix products and convolutions (core/backend/backend.h's
  // Precision): "f32", or "bf16" (mixed precision; the CPU needs AVX-512 BF16).
  std::string precision = "f32";
  AugmentOptions augment;  // training batches only
  float label_smoothing = 0.f;
  int top_k = 5;  // top-k accuracy reported (clamped to classes)

  std::string out_dir = "runs";  // run files go to <out_dir>/run-<id>[-N]/
  std::string db_path;           // empty: ExperimentStore::default_path(); "-" (here or
                                 // in $PERCEPTRA_DB) = no store
  std::string run_name;

  int snapshot_every = 0;   // batches between snapshot hooks; 0 = off
  int64_t max_batches = 0;  // caps training and validation batches per epoch; 0 = all
  // Before each validation, BatchNorm running statistics are re-estimated
  // on up to this many training images (core/train/precise_bn.h); 0 = off.
  int64_t precise_bn = 2048;
  EarlyStoppingConfig early_stopping;
  NotifyConfig notify;
  // Score every image with the final model at the end and keep the
  // per-image ledger in the store (core/curate/ledger.h).
  bool ledger = true;

  nlohmann::json to_json() const;
  static TrainConfig from_json(const nlohmann::json& j);
  void validate() const;  // range checks; InputError("config", ...)
};

}  // namespace perceptra
