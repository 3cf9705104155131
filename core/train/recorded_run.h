#pragma once
// A recorded run opened for a second look (the studio's Runs -> Open): its
// saved model and its data split as the run had it, decoded for the model's
// input. Reads only; the run may be finished, stopped or interrupted.
#include <cstdint>
#include <memory>
#include <string>

#include "core/store/store.h"
#include "core/train/setup.h"

namespace perceptra {

class Model;

struct RecordedRun {
  RunRecord run;
  std::string model_path;  // the final model, else the best, else the checkpoint
  std::shared_ptr<Model> model;
  std::shared_ptr<const PreparedData> data;
};

// Throws StoreError/InputError naming the run or file (e.g. a run with no
// saved model or checkpoint).
RecordedRun open_recorded_run(const std::string& db_path, int64_t run_id);

}  // namespace perceptra
