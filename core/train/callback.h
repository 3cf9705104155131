#pragma once
// fastai-style callbacks: hooks the trainer calls on its own thread, in the
// order they were added (built-ins first). A callback sees the run through
// TrainContext and may ask the trainer to stop; it must not keep references
// to the model or optimizer past the call.
#include <cstdint>
#include <string>

#include "core/train/config.h"
#include "core/train/events.h"

namespace perceptra {

class Model;
class Optimizer;
struct PreparedData;

class TrainContext {
 public:
  virtual ~TrainContext() = default;
  virtual const TrainConfig& config() const = 0;
  virtual Model& model() = 0;
  virtual Optimizer& optimizer() = 0;
  // The data the run trains and validates on (read-only, shared).
  virtual const PreparedData& data() const = 0;
  virtual int64_t run_id() const = 0;  // 0 when the run is not recorded
  virtual const std::string& run_dir() const = 0;
  // The epoch in progress (0-based); in on_epoch_end already the next one,
  // i.e. the number of completed epochs, which is what a checkpoint records.
  virtual int epoch() const = 0;
  virtual int64_t step() const = 0;  // optimizer steps done
  // Stops after the current hook returns (the current batch is finished).
  virtual void request_stop(EndReason reason, const std::string& message) = 0;
  virtual bool stop_requested() const = 0;
  virtual EndReason stop_reason() const = 0;  // meaningful when stop_requested()
  // Epochs since the monitored metric (config.early_stopping.monitor) last
  // improved; 0 right after an improvement.
  virtual int epochs_without_improvement() const = 0;
  // Resumable state at the current position (written atomically) and the
  // weights as a model file (spec, classes, normalisation, weights).
  virtual void save_checkpoint(const std::string& path) = 0;
  virtual void save_model(const std::string& path) = 0;
  // Tells every callback (on_artifact) that a run file was written; the
  // run recorder stores it, so `resume` and `runs` find it.
  virtual void record_artifact(const std::string& kind, const std::string& path) = 0;
  // Publishes an event to the trainer's queue (e.g. a LogMessage).
  virtual void publish(TrainEvent event) = 0;
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(TrainContext&, const TrainBegin&) {}
  virtual void on_epoch_begin(TrainContext&, const EpochBegin&) {}
  virtual void on_batch_end(TrainContext&, const BatchEnd&) {}
  virtual void on_epoch_end(TrainContext&, const EpochEnd&) {}
  // end may still be amended by callbacks that run before (e.g. the
  // checkpoint saver fills model paths); it is published after all of them.
  virtual void on_train_end(TrainContext&, TrainEnd&) {}
  // After every on_train_end: the run's final outcome (the recorder writes
  // the run's status here, after every file of the run is recorded).
  virtual void on_run_end(TrainContext&, const TrainEnd&) {}
  // A file of the run was written: kind "checkpoint", "best" or "model".
  virtual void on_artifact(TrainContext&, const std::string& /*kind*/, const std::string& /*path*/) {}
  // Every few seconds while the run is paused (the recorder heartbeats).
  virtual void on_paused(TrainContext&) {}
};

}  // namespace perceptra
