#pragma once
// Internal to the Trainer: one run's loop state on the trainer thread, and
// the TrainContext its callbacks see. The fitting loop is in fit_loop.cpp,
// the LR range test in lr_find_loop.cpp, both stepping with TrainStep.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/data/loader.h"
#include "core/train/trainer.h"
#include "core/train/train_step.h"

namespace perceptra {

struct ModelMeta;

// The message a run ends with when memory runs out (std::bad_alloc) on the
// trainer thread: what happened, where, and what to do. `where` says when
// ("in epoch 3, step 120", "while preparing the run").
std::string out_of_memory_message(const std::string& where);

struct Trainer::Job final : TrainContext {
  using Clock = std::chrono::steady_clock;

  Job(Trainer& trainer, std::shared_ptr<PreparedRun> run);
  ~Job() override;

  // ---- entry points (fit_loop.cpp, lr_find_loop.cpp) ----
  TrainEnd run_training();
  TrainEnd run_lr_find(const LrFinderConfig& finder);

  // ---- TrainContext ----
  const TrainConfig& config() const override { return r->config; }
  Model& model() override;
  Optimizer& optimizer() override;
  const PreparedData& data() const override { return *r->data; }
  int64_t run_id() const override { return r->run_id; }
  const std::string& run_dir() const override { return r->run_dir; }
  int epoch() const override { return pos.epoch; }
  int64_t step() const override { return pos.step; }
  void request_stop(EndReason reason, const std::string& message) override;
  bool stop_requested() const override { return stop_req; }
  EndReason stop_reason() const override { return stop_reason_; }
  int epochs_without_improvement() const override { return pos.bad_epochs; }
  void save_checkpoint(const std::string& path) override;
  void save_model(const std::string& path) override;
  void record_artifact(const std::string& kind, const std::string& path) override;
  void publish(TrainEvent e) override;

  // ---- shared by the loops (trainer_job.cpp) ----
  ModelMeta model_meta();
  void install_callbacks(const std::vector<std::shared_ptr<Callback>>& user);
  void build_loaders();
  // Between batches: honours pause (callbacks' on_paused) and stop.
  bool should_stop();
  void maybe_snapshot(bool force);
  TrainEnd finish(EndReason reason, const std::string& message);

  // ---- the fitting loop (fit_loop.cpp) ----
  TrainBegin begin_event();
  bool train_epoch();
  void train_batch(const Batch& b, const Phase& ph);
  bool end_epoch();
  void precise_batchnorm();
  void note_improvement(EpochEnd& e);

  // Data-parallel: this process's group (null for a single process). Ranks
  // > 0 write nothing (no recorder, folder, checkpoints or notification).
  bool follower() const { return group && group->rank() > 0; }

  Trainer& t;
  std::shared_ptr<PreparedRun> r;
  std::shared_ptr<DataParallelGroup> group;
  int64_t global_samples = 0;  // rows of the global batch being stepped
  bool interrupted = false;    // a rank was lost (CommunicationError)
  std::vector<std::shared_ptr<Callback>> cbs;
  std::unique_ptr<DataLoader> train_loader, valid_loader;
  std::unique_ptr<TrainStep> stepper;
  std::vector<int64_t> precise_bn_images;  // empty: no BatchNorm, or precise_bn off
  RunPosition pos;
  EpochEnd last_epoch_end;
  bool have_epoch_end = false;
  bool stop_req = false;
  EndReason stop_reason_ = EndReason::Done;
  std::string stop_message;
  Clock::time_point t_start = Clock::now();
};

}  // namespace perceptra
