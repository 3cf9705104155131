#pragma once
// Early termination of sweep trials, decided after each completed epoch from
// the metric values every trial has reported so far. Thread-safe: parallel
// trials report from their trainer threads.
//
// A trial's value at epoch e is its best metric (in the goal's direction)
// over epochs 1..e, so a noisy dip does not count against it.
//
// median (Golovin et al. 2017, Google Vizier's median stopping rule): after
// `grace_epochs`, a trial stops at epoch e when its value is worse than the
// median of the values of the other trials that reached epoch e, and at
// least `min_trials` of them did.
//
// asha (Li et al. 2020, asynchronous successive halving, stopping variant as
// in Ray Tune): rungs at grace, grace*eta, grace*eta^2, ... epochs (below the
// trial's total). A trial reaching a rung continues only when its value is
// within the best 1/eta of the values recorded at that rung before it; the
// first trial at a rung always continues. Its value is then recorded there.
//
// Decisions depend on the order trials report in, as in both papers; with
// parallel trials that order is the finishing order.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/sweep/spec.h"

namespace perceptra {

struct PruneDecision {
  bool stop = false;
  std::string reason;  // e.g. "median rule: 0.41 < median 0.63 of 4 trials at epoch 1"
};

class Pruner {
 public:
  Pruner(EarlyTermination rule, bool maximize);
  // Trial `trial` completed epoch `epoch` (1-based) with metric `value`.
  PruneDecision report(int64_t trial, int epoch, double value, int total_epochs);
  // Feeds history without deciding (a resumed sweep replays finished
  // trials' curves; ASHA records their rung values).
  void replay(int64_t trial, const std::vector<double>& values_by_epoch, int total_epochs);

 private:
  bool better(double a, double b) const { return maximize_ ? a > b : a < b; }
  double best_so_far(int64_t trial, int epoch) const;
  PruneDecision median(int64_t trial, int epoch);
  PruneDecision asha(int64_t trial, int epoch, int total_epochs);
  void record(int64_t trial, int epoch, double value);

  EarlyTermination rule_;
  bool maximize_;
  std::mutex mu_;
  std::map<int64_t, std::vector<double>> curves_;   // trial -> value per epoch (1-based - 1)
  std::map<int, std::vector<double>> rungs_;        // asha: epoch -> recorded values
  std::map<int64_t, std::vector<int>> rungs_done_;  // asha: trial -> rungs recorded
};

}  // namespace perceptra
