#pragma once
// The trainer's built-in callbacks (installed by the Trainer itself; see
// trainer.h for the order).
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "core/store/store.h"
#include "core/train/callback.h"

namespace perceptra {

// Stops with reason "diverged" on a NaN/Inf training loss (or validation
// loss). Nothing is saved after that point, so the last good checkpoint
// stays the resume point.
class NanGuard : public Callback {
 public:
  void on_batch_end(TrainContext& ctx, const BatchEnd& b) override;
  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override;
};

// Writes metrics to the store: per-batch "train_loss" and "lr" batched into
// one transaction every `flush_every` batches (and at epoch end), per-epoch
// "epoch_train_loss", "train_accuracy", "valid_loss", "valid_accuracy",
// "error_rate", "top_k_accuracy", "images_per_s", "epoch_seconds".
//
// A resumed run re-trains the steps between its last checkpoint and the
// kill; points already recorded for those steps (same values, the run is
// deterministic) are kept and not written twice.
class MetricsRecorder : public Callback {
 public:
  explicit MetricsRecorder(int flush_every = 50) : flush_every_(flush_every) {}
  void on_train_begin(TrainContext& ctx, const TrainBegin& b) override;
  void on_batch_end(TrainContext& ctx, const BatchEnd& b) override;
  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override;
  void on_train_end(TrainContext& ctx, TrainEnd& end) override;

 private:
  void flush(TrainContext& ctx);
  void add(int64_t step, int64_t epoch, const char* name, double value);
  int flush_every_;
  std::map<std::string, int64_t> recorded_up_to_;  // resumed runs: last step per metric
  std::vector<MetricPoint> pending_;
};

// Ends training (reason "done", with a message) after `patience` epochs
// without improvement of the monitored metric.
class EarlyStopping : public Callback {
 public:
  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override;
};

// <run_dir>/last.ckpt after every epoch (and at a user stop, mid-epoch), and
// <run_dir>/best.pmodel when the monitored metric improved; both recorded as
// store artifacts ("checkpoint", "best"). Fills TrainEnd's paths.
class CheckpointSaver : public Callback {
 public:
  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override;
  void on_train_end(TrainContext& ctx, TrainEnd& end) override;

 private:
  std::string last_, best_;
};

// Runs config.notify.command at the end of training (and after every epoch
// with notify.each_epoch) with the metrics in its environment:
// PERCEPTRA_EVENT (epoch_end|train_end), PERCEPTRA_RUN_ID, PERCEPTRA_RUN_DIR,
// PERCEPTRA_STATUS (running|done|stopped|diverged|error), PERCEPTRA_MESSAGE,
// PERCEPTRA_EPOCH, PERCEPTRA_EPOCHS, PERCEPTRA_TRAIN_LOSS,
// PERCEPTRA_VALID_LOSS, PERCEPTRA_VALID_ACCURACY,
// PERCEPTRA_BEST_VALID_ACCURACY, PERCEPTRA_MODEL_PATH, PERCEPTRA_SECONDS.
// The command is split into words (whitespace; '...' and "..." group) and
// run with posix_spawnp, without a shell: metric values never reach a shell
// parser. Use `sh -c '... "$PERCEPTRA_STATUS" ...'` explicitly to get one.
class NotifyCommand : public Callback {
 public:
  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override;
  void on_train_end(TrainContext& ctx, TrainEnd& end) override;
};

// Splits a command line into words (no expansion of any kind).
std::vector<std::string> split_command(const std::string& command);
// Runs argv[0] (PATH lookup) with the current environment plus `env`; waits
// up to timeout for it to exit. Returns its exit status, or -1 when it is
// still running (left to finish on its own) or could not be started
// (error says why).
int run_notify_command(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& env,
                       std::chrono::milliseconds timeout, std::string* error);

}  // namespace perceptra
