#pragma once
// The trials of a sweep: which parameter values each one trains with.
// Trial i is grid point i / trials with draw i % trials (see spec.h for the
// combination rule); expansion is deterministic, so a resumed sweep finds
// the same trial at the same index.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/sweep/spec.h"
#include "core/train/config.h"

namespace perceptra {

struct SweepTrial {
  int64_t index = 0;
  int64_t grid_index = 0, draw = 0;
  nlohmann::json params = nlohmann::json::object();  // flat: {"optimizer.lr": 0.01, ...}
  nlohmann::json config;                             // base with params applied (unvalidated)
};

SweepTrial sweep_trial(const SweepSpec& spec, int64_t index);
std::vector<SweepTrial> sweep_trials(const SweepSpec& spec);

// The trial's TrainConfig; InputError("trial N", "<problem> (params ...)")
// when the values make a bad config (e.g. batch_size 0 from the grid).
TrainConfig trial_config(const SweepTrial& trial);

}  // namespace perceptra
