#pragma once
// RunRecorder: every write a run makes to the experiment store, in one
// place. It is a callback of the run it records; a run without a store
// (db_path "-", the LR finder) is simply a run without a recorder.
//
//   prepare_run:  create()  dataset row + run row (status running)
//                 reopen()  a resumed run's row (status running again)
//                 fail()    preparation failed after the row existed
//                           (a resume gets its previous status back)
//   batches:      "train_loss", "lr" (batched transactions)
//   epochs:       "epoch_train_loss", "train_accuracy", "valid_loss",
//                 "valid_accuracy", "error_rate", "top_k_accuracy",
//                 "images_per_s", "epoch_seconds"
//   time:         "trained_seconds" (time actually trained, pauses and the
//                 gaps before a resume excluded), written with the batches
//                 at least every few seconds, so a killed run's duration
//                 is what it trained (the store's summary reads it)
//   files:        on_artifact -> artifacts (checkpoint, best, model)
//   paused:       heartbeat (the run stays claimed by this process)
//   train end:    the per-image ledger (core/curate/ledger.h) of a run that
//                 finished (early stopping included), scored by its final
//                 weights; a user's Stop skips it (it must end at once)
//   (create also records the dataset version the run trains on)
//   the end:      on_run_end -> the run's final status and message
//
// A resumed run re-trains the steps between its last checkpoint and the
// kill; metric points already recorded for those steps (same values, the
// run is deterministic) are kept and not written twice.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store/store.h"
#include "core/train/callback.h"

namespace perceptra {

class RunRecorder : public Callback {
 public:
  // A new run of `config` on `data`: registers the dataset and creates the
  // run row. Throws StoreError.
  static std::shared_ptr<RunRecorder> create(const std::string& db_path, const TrainConfig& config,
                                             const PreparedData& data, const nlohmann::json& spec,
                                             const std::string& device_description);
  // A recorded run continuing: marks it running again; `hparams`, when set,
  // replaces its recorded configuration (resume overrides).
  static std::shared_ptr<RunRecorder> reopen(const std::string& db_path, int64_t run_id, const nlohmann::json* hparams);
  ~RunRecorder() override;

  int64_t run_id() const { return run_id_; }
  // Reads for preparation: the run's latest checkpoint (checksum verified;
  // InputError when it is missing or altered), and the folder its files
  // were recorded in ("" when none was).
  std::optional<std::string> latest_checkpoint();
  std::string recorded_run_dir();
  // Preparation failed after the row existed: a new run is marked failed; a
  // resumed run gets back its status, end time and configuration from before
  // the resume (the resume never started), with the reason in its message.
  void fail(const std::string& message) noexcept;

  void on_train_begin(TrainContext& ctx, const TrainBegin& b) override;
  void on_batch_end(TrainContext& ctx, const BatchEnd& b) override;
  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override;
  void on_train_end(TrainContext& ctx, TrainEnd& end) override;
  void on_run_end(TrainContext& ctx, const TrainEnd& end) override;
  void on_artifact(TrainContext& ctx, const std::string& kind, const std::string& path) override;
  void on_paused(TrainContext& ctx) override;

 private:
  RunRecorder(std::unique_ptr<ExperimentStore> store, int64_t run_id);
  void flush();
  void add(int64_t step, int64_t epoch, const char* name, double value);
  // Seconds trained so far (this session's plus what earlier sessions recorded).
  double trained_seconds();

  std::unique_ptr<ExperimentStore> store_;
  int64_t run_id_ = 0;
  int flush_every_ = 50;
  std::map<std::string, int64_t> recorded_up_to_;  // resumed runs: last step per metric
  std::vector<MetricPoint> pending_;
  std::optional<RunRecord> before_resume_;  // reopen(): the row as it was
  using Clock = std::chrono::steady_clock;
  double trained_before_ = 0;  // recorded by earlier sessions (resume)
  double paused_s_ = 0;        // this session's pauses
  std::optional<Clock::time_point> begin_, paused_since_, last_flush_;
};

}  // namespace perceptra
