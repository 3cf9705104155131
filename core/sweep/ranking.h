#pragma once
// A sweep's trials ranked by its metric (what `runs list --sweep ID` and the
// sweep's summary show).
#include <optional>
#include <string>
#include <vector>

#include "core/store/store.h"

namespace perceptra {

struct RankedTrial {
  RunSummary summary;           // the trial's run (run.trial_index, run.trial_params, ...)
  std::optional<double> score;  // best epoch value of the metric in the goal's direction
  std::string state;            // finished | early_terminated | stopped | interrupted | failed | diverged | running
};

struct SweepRanking {
  SweepRecord sweep;
  std::string metric, goal;
  std::vector<RankedTrial> trials;  // best first; trials without a score last, by trial index
};

// Throws StoreError for an unknown sweep.
SweepRanking rank_sweep(ExperimentStore& store, int64_t sweep_id);

// "early_terminated" for early-terminated trials, else the run status.
std::string trial_state(const RunRecord& run);

}  // namespace perceptra
