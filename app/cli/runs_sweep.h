#pragma once
// `runs list --sweep ID` (a sweep's trials ranked by its metric) and
// `runs sweeps` (every sweep), for cmd_runs.
#include <cstdint>

namespace perceptra {
class ExperimentStore;
}

namespace perceptra::cli {
int list_sweep_trials(ExperimentStore& st, int64_t sweep_id, bool json);
int list_sweeps(ExperimentStore& st, bool json);
}  // namespace perceptra::cli
