#pragma once
// A recorded run's curves as the events that drew them: per-batch points
// (train_loss, lr) as BatchEnd and per-epoch summaries as EpochEnd (no
// confusion matrix: the store keeps scalars). A view that shows a resumed
// run loads these first, so the curve starts at step 0 and the live events
// of the continuation append to it; a reopened run shows the same curves.
#include <cstdint>
#include <string>
#include <vector>

#include "core/train/events.h"

namespace perceptra {

class ExperimentStore;

struct RunHistory {
  int64_t run_id = 0;
  std::vector<BatchEnd> batches;  // step order
  std::vector<EpochEnd> epochs;   // epoch order
  bool empty() const { return batches.empty() && epochs.empty(); }
};

// Throws StoreError for an unknown run. `steps_done` >= 0 keeps only what
// was recorded before that many optimizer steps (batches with step <
// steps_done, epochs ended at or before it): a resume re-trains the steps
// after its checkpoint and their live events would draw them twice.
RunHistory load_run_history(ExperimentStore& store, int64_t run_id, int64_t steps_done = -1);
RunHistory load_run_history(const std::string& db_path, int64_t run_id, int64_t steps_done = -1);

}  // namespace perceptra
