#pragma once
// The Trainer: the training loop of one prepared run, on its own std::thread.
//
//   auto run = prepare_run(config);    // prepared_run.h: data, model, store row, folder
//   Trainer t(run);                    // or Trainer t(config): prepares on its thread
//   t.add_callback(...);               // optional, before start()
//   t.start();
//   while (auto e = t.events().wait_pop(100ms)) { ... value copies ... }
//   t.pause(); t.resume(); t.stop();   // any thread; checked between batches
//   t.wait();
//
// Trainer(config) and from_run() prepare the run on the trainer thread, so
// start() returns at once and preparation errors arrive as TrainEnd{reason:
// error}. Stop takes effect within one batch; pause blocks the trainer
// between batches until resume() or stop().
//
// Built-in callbacks, in this order: NaN/Inf guard, run recorder (the
// store; only for recorded runs), early stopping (when configured),
// checkpoint saver (last + best), notification command (when configured).
// User callbacks run after them.
//
// Files of a run: <out_dir>/run-<id>/{last.ckpt, best.pmodel, model.pmodel};
// run-<id>-2, -3, ... when run-<id> already exists (never written into). A
// resumed run continues in the folder its artifacts were recorded in.
#include <any>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/optim/lr_finder.h"
#include "core/train/callback.h"
#include "core/train/config.h"
#include "core/train/data_parallel_group.h"
#include "core/train/event_queue.h"
#include "core/train/events.h"
#include "core/train/prepared_run.h"

namespace perceptra {

struct NormStats;

// What a snapshot hook may use, on the trainer thread between batches. The
// model is in the middle of training: run eval-mode forwards only (they do
// not change weights or running statistics) and return a value copy.
struct SnapshotContext {
  Model& model;
  const NormStats& norm;  // how inputs must be normalised
  int epoch;
  int64_t step;
};
using SnapshotFn = std::function<std::any(SnapshotContext&)>;
// A typed hook for the live activation view (core/interp/live_snapshot.h);
// null results are not published.
using ActivationsFn = std::function<std::shared_ptr<const LiveSnapshot>(SnapshotContext&)>;

class Trainer {
 public:
  // Trains a prepared run (prepare_run / prepare_resume; the LR finder
  // takes one prepared with record = false).
  explicit Trainer(std::shared_ptr<PreparedRun> run);
  // Prepares `config` on the trainer thread when started (validated here).
  explicit Trainer(TrainConfig config);
  // Continues run `run_id` of the store at db_path from its last checkpoint
  // (from scratch when it has none). The run must not be running in a live
  // process. Throws StoreError/InputError at once for an unknown run.
  static std::unique_ptr<Trainer> from_run(int64_t run_id, const std::string& db_path,
                                           const ResumeOptions& options = {});
  // Continues a checked request (resume_request()), prepared on the
  // trainer thread when started.
  explicit Trainer(ResumeRequest request);
  ~Trainer();  // stops and joins
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Before start(): extra callbacks and a snapshot hook run every
  // `every_batches` batches (and at each epoch end), published as Snapshot{kind}.
  void add_callback(std::shared_ptr<Callback> callback);
  void set_snapshot_hook(const std::string& kind, int every_batches, SnapshotFn fn);
  // The same schedule, published as ActivationsSnapshot.
  void set_activations_hook(int every_batches, ActivationsFn fn);
  // Data-parallel training (core/dist: make_data_parallel, prepare_distributed):
  // this process is one rank of `group`; the run must be prepared for it
  // (rank 0 recorded, the others not). Not for the LR range test.
  void set_data_parallel(std::shared_ptr<DataParallelGroup> group);

  // Starts training. Throws Error when already started.
  void start();
  // Starts an LR range test instead: the same data, model and optimizer on a
  // throwaway copy of the weights (no store row, no files), publishing a
  // BatchEnd per batch, then LrFindEnd, then TrainEnd. A prepared run must
  // be prepared with record = false (Error otherwise).
  void start_lr_find(const LrFinderConfig& finder = {});

  void pause();
  void resume();
  void stop();
  bool paused() const { return pause_.load(); }
  bool running() const { return started_ && !finished_.load(); }
  bool finished() const { return finished_.load(); }
  void wait();
  bool wait_for(std::chrono::milliseconds timeout);  // true when finished

  // Shared so a consumer may keep it past the trainer's lifetime.
  EventQueue& events() { return *events_; }
  std::shared_ptr<EventQueue> event_queue() const { return events_; }
  // The final event, once finished.
  std::optional<TrainEnd> result() const;
  const TrainConfig& config() const { return config_; }
  // The run being trained: set at construction for a prepared run, else once
  // the trainer thread prepared it (null before, or when preparation failed).
  // Other threads may read only its `data`.
  std::shared_ptr<const PreparedRun> run() const;

 private:
  struct Job;
  void launch(std::function<TrainEnd()> body);
  // The prepared run, preparing it on this (the trainer) thread when needed.
  std::shared_ptr<PreparedRun> take_run(bool record);

  TrainConfig config_;
  std::shared_ptr<PreparedRun> run_;
  std::optional<ResumeRequest> resume_;
  std::shared_ptr<EventQueue> events_ = std::make_shared<EventQueue>();
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::string snapshot_kind_;
  int snapshot_every_ = 0;
  SnapshotFn snapshot_fn_;
  ActivationsFn activations_fn_;
  std::shared_ptr<DataParallelGroup> group_;

  std::thread thread_;
  bool started_ = false;
  std::atomic<bool> stop_{false}, pause_{false}, finished_{false};
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<TrainEnd> result_;
  friend struct TrainerAccess;
};

}  // namespace perceptra
