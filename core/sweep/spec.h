#pragma once
// A hyper-parameter sweep, as JSON (the same file from the CLI and the studio):
//
//   {"base": {"data": "sample", "model": "lenet5", "epochs": 2},
//    "grid": {"optimizer.lr": [0.01, 0.1], "batch_size": [32, 64]},
//    "random": {"optimizer.weight_decay": {"log_uniform": [1e-5, 1e-2]},
//               "optimizer.momentum": {"uniform": [0.8, 0.99]},
//               "model": {"choice": ["lenet5", "simplecnn"]}},
//    "trials": 4, "metric": "valid_accuracy", "goal": "max", "seed": 0,
//    "early_terminate": {"type": "median", "grace_epochs": 1, "min_trials": 2},
//    "time_budget_minutes": 30, "name": "lr-search"}
//
// Parameters are named by their TrainConfig JSON path ("optimizer.lr",
// "augment.hflip", "batch_size"); the path must exist in the base config.
//
// Combination rule (what runs):
//   - grid alone:   every combination of the grid values, once each;
//   - random alone: `trials` draws of the random parameters;
//   - both:         each grid point with its own `trials` draws, i.e.
//                   grid points x trials runs.
// Grid keys vary in alphabetical order of their paths, the last fastest;
// draws are a pure function of (seed, trial index, parameter), so the same
// spec always expands to the same trials (resume relies on it).
// uniform/log_uniform on an integer field (batch_size, epochs) round to the
// nearest integer.
//
// Errors: InputError("sweep", "field 'grid.optimizer.lr' ...") naming the field.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace perceptra {

struct RandomParam {
  enum class Kind { Uniform, LogUniform, Choice };
  std::string path;
  Kind kind = Kind::Uniform;
  double lo = 0, hi = 0;                // uniform / log_uniform bounds
  std::vector<nlohmann::json> choices;  // choice
};

struct EarlyTermination {
  // none | median (median stopping rule) | asha (asynchronous successive halving)
  std::string type = "none";
  // median: no trial is stopped before it completed this many epochs.
  // asha:   the first rung (epochs); later rungs at grace * eta^k.
  int grace_epochs = 1;
  int min_trials = 2;  // median: other trials that must have reached the epoch
  int eta = 3;         // asha: keep the best 1/eta at each rung
};

struct SweepSpec {
  nlohmann::json base = nlohmann::json::object();                         // a TrainConfig JSON (validated)
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> grid;  // sorted by path
  std::vector<RandomParam> random;                                        // sorted by path
  int trials = 1;                                                         // draws per grid point (1 without "random")
  std::string metric = "valid_accuracy";
  std::string goal = "max";  // max | min; default by metric (accuracies max, losses min)
  uint64_t seed = 0;         // for the random draws
  EarlyTermination early_terminate;
  double time_budget_minutes = 0;  // 0 = none
  std::string name;

  static SweepSpec from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
  int64_t grid_points() const;  // 1 without a grid
  int64_t size() const { return grid_points() * trials; }
  bool maximize() const { return goal == "max"; }
};

// Metrics a sweep can rank by: the per-epoch values of EpochEnd / the store.
const std::vector<std::string>& sweep_metrics();

// The largest sweep accepted (grid points x trials).
constexpr int64_t kMaxSweepTrials = 10000;

}  // namespace perceptra
