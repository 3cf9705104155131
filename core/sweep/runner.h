#pragma once
// Runs a sweep's trials on this machine, K at a time, each an ordinary
// Trainer run recorded in the store with its sweep id, trial index and
// parameter values. Used by `perceptra-cli sweep` (and the studio).
//
//   SweepRunner r(spec, options);           // or SweepRunner::resume(id, options)
//   SweepResult res = r.run(listener);      // blocks; listener gets JSON events
//
// - Threads: `parallel` trials at once; the CPU threads (options.threads, or
//   all cores) are split between them unless the base config sets threads.
// - A failing trial (bad config, unreadable data, diverged) is recorded as a
//   failed/diverged run and the sweep goes on.
// - Early termination (spec.early_terminate) stops a trial after an epoch;
//   the run is 'stopped' with early_terminated set, and counts as done.
// - Stop (options.cancel, e.g. Ctrl-C) stops the running trials with a
//   checkpoint and leaves the sweep 'stopped'; a killed process leaves it
//   'interrupted'. resume() continues either: finished, failed, diverged and
//   early-terminated trials are kept, stopped/interrupted trials continue
//   from their checkpoints (same run), the rest start.
// - time_budget_minutes: no trial starts after it; running ones are stopped
//   (resumable) and the sweep ends 'finished' with a note.
//
// Events (listener, called on the thread that called run()), one JSON object
// each: sweep_begin, trial_begin, trial_epoch, trial_end, sweep_end (see
// README.md).
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/sweep/spec.h"

namespace perceptra {

class Communicator;

struct SweepOptions {
  std::string db_path;                        // the store (required; not "-")
  std::string out_dir;                        // run folders; empty: the base config's out_dir
  int parallel = 1;                           // trials at once
  int threads = 0;                            // CPU threads to split; 0 = all cores
  std::string device;                         // overrides the base config's device when set
  const std::atomic<bool>* cancel = nullptr;  // set -> stop cleanly
};

struct SweepResult {
  int64_t sweep_id = 0;
  std::string status;  // finished | stopped
  std::string message;
  int64_t trials = 0;  // in the spec
  int64_t done = 0;    // finished + failed + diverged + early-terminated
  int64_t failed = 0, diverged = 0, early_terminated = 0, unfinished = 0;
  int64_t best_run_id = 0, best_trial = -1;
  std::optional<double> best_score;
};

using SweepListener = std::function<void(const nlohmann::json& event)>;

class SweepRunner {
 public:
  // A new sweep: validates options (InputError), creates the sweep row on run().
  SweepRunner(SweepSpec spec, SweepOptions options);
  // Continues sweep `sweep_id` of options.db_path (spec from the store).
  static SweepRunner resume(int64_t sweep_id, SweepOptions options);

  SweepResult run(const SweepListener& listener = {});
  // The coordinator of a distributed sweep (rank 0 of `workers`, which has
  // at least 2 ranks): the other ranks run the trials (run_sweep_worker,
  // distributed.h), this one records them. options.parallel, threads and
  // device are the workers' own; the same events are emitted.
  SweepResult run(Communicator& workers, const SweepListener& listener = {});
  const SweepSpec& spec() const { return spec_; }
  int threads_per_trial() const;

 private:
  struct State;
  SweepSpec spec_;
  SweepOptions options_;
  int64_t resume_id_ = 0;
};

// The value a trial ranks by: its best epoch value of spec.metric in the
// goal's direction (none when it completed no epoch).
std::optional<double> trial_score(const std::vector<double>& values_by_epoch, bool maximize);

}  // namespace perceptra
