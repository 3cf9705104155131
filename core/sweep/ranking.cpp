#include "core/sweep/ranking.h"

#include <algorithm>

#include "core/sweep/runner.h"

namespace perceptra {

std::string trial_state(const RunRecord& run) {
  if (run.early_terminated) return "early_terminated";
  return to_string(run.status);
}

SweepRanking rank_sweep(ExperimentStore& store, int64_t sweep_id) {
  SweepRanking r;
  r.sweep = store.sweep(sweep_id);
  r.metric = r.sweep.spec.value("metric", "valid_accuracy");
  r.goal = r.sweep.spec.value("goal", "max");
  const bool maximize = r.goal == "max";
  for (auto& s : store.list_runs(sweep_id)) {
    RankedTrial t;
    t.score = trial_score(store.metric_series(s.run.id, r.metric).values, maximize);
    t.state = trial_state(s.run);
    t.summary = std::move(s);
    r.trials.push_back(std::move(t));
  }
  std::stable_sort(r.trials.begin(), r.trials.end(), [&](const RankedTrial& a, const RankedTrial& b) {
    if (a.score.has_value() != b.score.has_value()) return a.score.has_value();
    if (a.score && *a.score != *b.score) return maximize ? *a.score > *b.score : *a.score < *b.score;
    return a.summary.run.trial_index < b.summary.run.trial_index;
  });
  return r;
}

}  // namespace perceptra
