#pragma once
// A run ready for its first batch. prepare_run() does, once, everything a
// run needs before the training loop: it resolves the device, opens and
// splits the data, builds the model (fresh, from a model file, or from a
// checkpoint), the optimizer and the schedule phases, restores the
// checkpoint's position, and creates the run's store row (RunRecorder) and
// folder. The Trainer then only loops.
//
//   auto run = prepare_run(config);            // a fresh or --from run
//   auto run = prepare_resume(resume_request(id, db, overrides));
//   show(run->data);                           // the split, read-only, any thread
//   Trainer t(run);  t.start();                // the same objects train
//
// Heavy (opens the data): call it off a UI thread. Throws InputError /
// StoreError naming the file or field; a run row created before the error
// is marked failed. After a Trainer took the run, only `data` (immutable)
// may be read from other threads.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor/device.h"
#include "core/train/config.h"
#include "core/train/cost_estimate.h"
#include "core/train/setup.h"

namespace perceptra {

class Model;
class Optimizer;
class Schedule;
class RunRecorder;
struct Checkpoint;

// One schedule per training phase (transfer learning has a frozen and an
// unfrozen phase, each a full schedule as in fastai's fine_tune).
struct Phase {
  int first_epoch = 0, end_epoch = 0;
  int64_t first_step = 0;
  std::shared_ptr<Schedule> schedule;
};

// Where a run stands: what a checkpoint records besides weights and
// optimizer state.
struct RunPosition {
  int epoch = 0;      // the epoch in progress (= epochs completed)
  int64_t batch = 0;  // batches done in it (a mid-epoch stop)
  int64_t step = 0;   // optimizer steps overall
  // Training sums of the epoch in progress (a mid-epoch resume reports the
  // same epoch loss).
  double loss_sum = 0, seconds = 0;
  int64_t correct = 0, count = 0;
  // Best monitored value and epochs since it improved.
  bool have_best = false;
  double best_value = 0, best_valid_accuracy = 0;
  int bad_epochs = 0;
};

struct ResumeOptions {
  std::optional<int> epochs;  // extend (or shorten) the run's total epochs
  std::optional<float> lr;    // e.g. a smaller LR after "diverged"
  std::string device;         // override the recorded device request when set
  int threads = -1;           // override when >= 0
};

// A recorded run to continue, checked (resume_request) but not yet prepared.
struct ResumeRequest {
  int64_t run_id = 0;
  std::string db_path;
  TrainConfig config;            // the recorded one with the overrides applied
  bool hparams_changed = false;  // epochs or lr overridden: the store is updated
};

struct PrepareOptions {
  // False for the LR range test: no store row, no run folder, nothing written.
  bool record = true;
  // The dataset config.data names, already opened with default options (the
  // studio's preview): used instead of opening it again when it fits the
  // model's input.
  std::shared_ptr<const DataSource> source;
  // Data already prepared and split (out-of-fold scoring trains on its own
  // folds): used as is, nothing is opened or split.
  std::shared_ptr<const PreparedData> data;
  // Start from this checkpoint (weights, optimizer state, position), as a
  // resumed run does: a data-parallel rank > 0 continuing rank 0's run
  // unrecorded. `checkpoint_name` names it in errors.
  const Checkpoint* checkpoint = nullptr;
  std::string checkpoint_name = "checkpoint";
  // The cost guard: a run whose projected peak memory exceeds the limit
  // (cost_estimate.h) is refused with InputError("memory", numbers and a
  // suggestion) before its model is built, unless forced.
  bool force = false;
  // Stop after the estimate (perceptra-cli train --dry-run): no model, no
  // optimizer, no store row, no folder; PreparedRun::cost is set.
  bool estimate_only = false;
};

// Something the preparation decided on the user's behalf (the input shape a
// --from model fixes, a replaced head, a frozen body, a one-class dataset,
// skipped files): published as LogMessage events when the run begins, so
// the CLI prints them on stderr (and --json) and the studio lists them.
struct RunNote {
  std::string level;  // "info" | "warning"
  std::string text;
};

struct PreparedRun {
  PreparedRun();
  ~PreparedRun();
  PreparedRun(const PreparedRun&) = delete;
  PreparedRun& operator=(const PreparedRun&) = delete;

  TrainConfig config;
  Device device = Device::cpu();
  std::string device_note;                   // CUDA builds without a usable device: why the CPU
  std::shared_ptr<const PreparedData> data;  // source, split, normalisation
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
  nlohmann::json spec;
  int head_index = -1;  // transfer learning: the replaced/kept head
  std::vector<Phase> phases;
  int64_t batches_per_epoch = 0;
  RunPosition position;  // where training starts (a checkpoint's, or zero)
  bool resumed = false;
  std::string checkpoint_path;            // the checkpoint it continues from ("" when none)
  std::shared_ptr<RunRecorder> recorder;  // null: the run is not recorded
  int64_t run_id = 0;                     // 0 without a recorder
  std::string run_dir;                    // "" when not recorded (LR finder)
  std::optional<CostEstimate> cost;       // unset when the spec could not be estimated
  // Validation batches: max(batch, 256) unless the cost estimate says a pass
  // that size would not fit (safe_inference_batch); 0 = the default.
  int inference_batch = 0;
  std::vector<RunNote> notes;

  bool transfer() const { return head_index >= 0 && config.freeze_epochs > 0; }
  bool frozen_at(int epoch) const { return transfer() && epoch < config.freeze_epochs; }
  const Phase& phase_for(int epoch) const;
};

std::shared_ptr<PreparedRun> prepare_run(const TrainConfig& config, const PrepareOptions& options = {});

// Checks that run `run_id` of the store at db_path can continue (it exists,
// is not running in a live process, is not finished unless more epochs are
// asked for, the overrides are valid) and returns its configuration with
// the overrides. Throws InputError/StoreError at once.
ResumeRequest resume_request(int64_t run_id, const std::string& db_path, const ResumeOptions& options = {});
// Continues it from its last checkpoint (from scratch when it has none), in
// the folder its files were recorded in.
// options.force passes the cost guard as in prepare_run.
std::shared_ptr<PreparedRun> prepare_resume(const ResumeRequest& request, const PrepareOptions& options = {});

// The spec a fresh run of `config` will build for data of `input` and
// `classes`: the configured model, or with from_model that file's spec with
// its head resized to `classes`. Throws InputError naming what is wrong.
// The cost estimate uses it before anything is built.
nlohmann::json planned_model_spec(const TrainConfig& config, const Shape& input, int classes);

// The batches of one training epoch for `config` over `train_samples`.
int64_t batches_per_epoch(const TrainConfig& config, int64_t train_samples);

}  // namespace perceptra
