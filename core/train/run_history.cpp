#include "core/train/run_history.h"

#include <map>

#include "core/store/store.h"

namespace perceptra {

RunHistory load_run_history(ExperimentStore& store, int64_t run_id, int64_t steps_done) {
  store.run(run_id);  // StoreError when absent
  RunHistory h;
  h.run_id = run_id;
  auto keep_batch = [&](int64_t step) { return steps_done < 0 || step < steps_done; };
  // Epoch metrics are recorded at the steps done when the epoch ended.
  auto keep_epoch = [&](int64_t step) { return steps_done < 0 || step <= steps_done; };
  std::map<int64_t, BatchEnd> batches;
  auto batch_at = [&](int64_t step, int64_t epoch) -> BatchEnd& {
    BatchEnd& b = batches[step];
    b.run_id = run_id;
    b.step = step;
    b.epoch = static_cast<int>(epoch);
    return b;
  };
  const MetricSeries loss = store.metric_series(run_id, "train_loss");
  for (size_t i = 0; i < loss.size(); ++i)
    if (keep_batch(loss.steps[i])) batch_at(loss.steps[i], loss.epochs[i]).loss = loss.values[i];
  const MetricSeries lr = store.metric_series(run_id, "lr");
  for (size_t i = 0; i < lr.size(); ++i)
    if (keep_batch(lr.steps[i]) && batches.count(lr.steps[i])) batch_at(lr.steps[i], lr.epochs[i]).lr = lr.values[i];
  for (auto& [step, b] : batches) h.batches.push_back(b);

  // Per-epoch scalars, keyed by epoch (the last value recorded wins).
  std::map<int64_t, EpochEnd> epochs;
  auto fill = [&](const char* name, double EpochEnd::*field) {
    const MetricSeries s = store.metric_series(run_id, name);
    for (size_t i = 0; i < s.size(); ++i) {
      if (!keep_epoch(s.steps[i])) continue;
      EpochEnd& e = epochs[s.epochs[i]];
      e.run_id = run_id;
      e.epoch = static_cast<int>(s.epochs[i]);
      e.step = s.steps[i];
      e.*field = s.values[i];
    }
  };
  fill("valid_loss", &EpochEnd::valid_loss);
  fill("valid_accuracy", &EpochEnd::valid_accuracy);
  fill("epoch_train_loss", &EpochEnd::train_loss);
  fill("train_accuracy", &EpochEnd::train_accuracy);
  fill("error_rate", &EpochEnd::error_rate);
  fill("images_per_s", &EpochEnd::images_per_s);
  fill("epoch_seconds", &EpochEnd::seconds);
  for (auto& [epoch, e] : epochs) h.epochs.push_back(e);
  return h;
}

RunHistory load_run_history(const std::string& db_path, int64_t run_id, int64_t steps_done) {
  ExperimentStore store(db_path);
  return load_run_history(store, run_id, steps_done);
}

}  // namespace perceptra
