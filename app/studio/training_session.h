#pragma once
// The bridge between the Trainer (its own std::thread) and the UI thread.
// A run is prepared on a worker thread (prepare_run: data, split, model,
// store row), announced with prepared(), then trained by a Trainer given
// that same prepared run. A QTimer on the UI thread drains the trainer's
// event queue without ever blocking (pop_all) and re-emits the events as
// signals; batch events are handed over in bursts so the views can redraw
// at their own bounded rate.
//
// Live views: an activations hook runs on the trainer thread every few
// batches (throttled to a few per second) and at each epoch end; it builds a
// LiveSnapshot (core/interp) of the probe image there, so the UI only wraps
// pixels. At each epoch end a callback also publishes a CPU copy of the
// model (EpochModel), on which the Inspect view predicts off the UI thread.
#include <QFutureWatcher>
#include <QObject>
#include <QTimer>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/optim/lr_finder.h"
#include "core/train/config.h"
#include "core/train/events.h"

namespace perceptra {
class Trainer;
class Model;
struct PreparedRun;
struct PreparedData;
}  // namespace perceptra

namespace perceptra::studio {

class TrainingSession : public QObject {
  Q_OBJECT
 public:
  explicit TrainingSession(QObject* parent = nullptr);
  ~TrainingSession() override;  // stops the trainer and joins it

  enum class Mode { Idle, Training, LrFind };
  // Runs on a worker thread; throws to fail the start (reported as a
  // TrainEnd with reason error, as a failing trainer would).
  using Prepare = std::function<std::shared_ptr<PreparedRun>()>;

  // Prepares (off the UI thread) and then trains; false with *error when a
  // run is already active. The session is active from this call on.
  bool start(Mode mode, const TrainConfig& config, Prepare prepare, QString* error);

  void pause();
  void resume();
  void stop();
  // Stops and joins (used when closing the window): at most one batch, or
  // the preparation in progress.
  void stopAndWait();

  Mode mode() const { return mode_; }
  bool active() const { return mode_ != Mode::Idle; }
  bool preparing() const { return active() && !trainer_; }
  bool paused() const;
  const TrainConfig& config() const { return config_; }
  // The run being trained (null while preparing or idle). Read only its data.
  std::shared_ptr<const PreparedRun> run() const;

  // The probe image for the activation views; any thread may call it, the
  // trainer's hook reads it at its next snapshot.
  void setProbe(std::shared_ptr<const Dataset> data, int64_t index);
  // Batches between activation snapshots (also throttled by time).
  void setSnapshotEvery(int batches) { snapshot_every_ = batches; }
  void setPollInterval(int ms) { poll_.setInterval(ms); }
  void setLrFinder(const LrFinderConfig& finder) { finder_ = finder; }

  // Drains the queue now (tests, shutdown).
  void poll();

 signals:
  // The run is prepared: its data (the split the trainer uses) can be shown.
  void prepared(std::shared_ptr<const perceptra::PreparedData> data);
  void began(const perceptra::TrainBegin& e);
  void epochBegan(const perceptra::EpochBegin& e);
  void batches(const std::vector<perceptra::BatchEnd>& burst);
  void epochEnded(const perceptra::EpochEnd& e);
  void liveSnapshot(std::shared_ptr<const perceptra::LiveSnapshot> s);
  void epochModel(std::shared_ptr<perceptra::Model> model, int epoch);
  void logMessage(const QString& level, const QString& text);
  void lrFindEnded(const perceptra::LrFindEnd& e);
  void ended(const perceptra::TrainEnd& e, bool lrFind);

 private:
  struct HookState;
  struct Prepared {
    std::shared_ptr<PreparedRun> run;
    std::string error;
  };
  void onPrepared();
  void launch(std::shared_ptr<PreparedRun> run);
  void install_hooks(Trainer& t);
  void dispatch(TrainEvent& e);
  void endWith(const TrainEnd& end);

  std::unique_ptr<Trainer> trainer_;
  std::shared_ptr<HookState> hook_;
  TrainConfig config_;
  Mode mode_ = Mode::Idle;
  bool stopRequested_ = false, pauseRequested_ = false;
  int snapshot_every_ = 10;
  LrFinderConfig finder_;
  QFutureWatcher<Prepared> prepareWatcher_;
  QTimer poll_;
};

}  // namespace perceptra::studio
