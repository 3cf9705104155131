#pragma once
// The trainer's built-in callbacks (installed by the Trainer itself; see
// trainer.h for the order). The store's writer, RunRecorder, is in
// run_recorder.h.
#include <chrono>
#include <map>
#include <string>
#include <vector>

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

// Ends training (reason "done", with a message) after `patience` epochs
// without improvement of the monitored metric.
class EarlyStopping : public Callback {
 public:
  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override;
};

// <run_dir>/last.ckpt after every epoch (and at a user stop, mid-epoch), and
// <run_dir>/best.pmodel when the monitored metric improved; both recorded as
// run artifacts ("checkpoint", "best"; TrainContext::record_artifact).
// Fills TrainEnd's paths.
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
int run_notify_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       std::chrono::milliseconds timeout, std::string* error);

}  // namespace perceptra
