#pragma once
// The bookkeeping a sweep does at its coordinator, whoever trains the trials
// (SweepRunner's local threads or MPI workers): the sweep row, which trials
// are left, the pruner, the trial_end / sweep_begin / sweep_end events and
// the final ranking. Internal to core/sweep.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/store/store.h"
#include "core/sweep/pruner.h"
#include "core/sweep/runner.h"
#include "core/sweep/trials.h"
#include "core/train/events.h"

namespace perceptra {

// The value of `metric` in an epoch's results (NaN for an unknown name).
double epoch_metric(const EpochEnd& e, const std::string& metric);
// The epoch metrics a recorded run stores (RunRecorder's names).
std::vector<MetricPoint> epoch_points(const EpochEnd& e);

struct PendingTrial {
  SweepTrial trial;
  std::optional<int64_t> resume_run;  // continue this run instead of starting one
};

class SweepBook {
 public:
  // Opens the store, creates the sweep (resume_id 0) or reopens it, and
  // finds the trials left to run, replaying finished ones into the pruner.
  SweepBook(const SweepSpec& spec, const SweepOptions& options, int64_t resume_id, const SweepListener& listener);

  void emit(const nlohmann::json& event) const;
  // sweep_begin with `parallel` and `threads_per_trial` (0: the base decides).
  void begin(int parallel, int threads_per_trial, const nlohmann::json& extra = nlohmann::json::object());
  // A trial that failed before its run existed, recorded as a failed run.
  int64_t record_failed(const SweepTrial& t, const std::string& message);
  // Counts and announces a trial's end; state: finished | early_terminated |
  // stopped | interrupted | diverged | failed.
  void trial_end(const SweepTrial& t, int64_t run_id, const std::string& state, const std::string& message);
  // Ends the sweep (status finished or stopped), ranks it, emits sweep_end.
  SweepResult finish(bool cancelled, bool budget_hit, int64_t not_started, const std::string& note = "");

  ExperimentStore store;
  const SweepSpec& spec;
  int64_t sweep_id = 0;
  std::string sweep_name;
  Pruner pruner;
  std::deque<PendingTrial> pending;
  int64_t already = 0;

 private:
  SweepListener listener_;
  SweepResult res_;
  bool resumed_ = false;
};

}  // namespace perceptra
