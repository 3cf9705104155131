#pragma once
// The bridge between the Trainer (its own std::thread) and the UI thread.
// A QTimer on the UI thread drains the trainer's event queue without ever
// blocking (pop_all) and re-emits the events as signals; batch events are
// handed over in bursts so the views can redraw at their own bounded rate.
//
// Live views: a snapshot hook runs on the trainer thread every few batches
// (throttled to a few per second) and at each epoch end; it captures the
// activations of every layer for the probe image and the first-layer filters
// and turns them into 8-bit images there, so the UI only wraps pixels. At
// each epoch end a callback also publishes a CPU copy of the model, on which
// the Inspect view computes predictions off the UI thread.
#include <QObject>
#include <QTimer>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/interp/activations.h"
#include "core/train/config.h"
#include "core/train/events.h"

namespace perceptra {
class Trainer;
class Model;
}  // namespace perceptra

namespace perceptra::studio {

struct LayerImage {
  std::string name, type;
  Shape shape;        // per-sample output shape
  TiledImage tiles;   // feature maps as a grid, or a strip for dense layers
};

// One probe's view of the network at one moment (immutable once published).
struct LiveSnapshot {
  int epoch = 0;
  int64_t step = 0;
  int64_t probe_index = 0;
  int probe_label = -1;
  Image8 probe_image;
  std::vector<float> probabilities;
  int predicted = -1;
  std::vector<LayerImage> layers;
  bool has_filters = false;
  FilterImages filters;
};

// Captures a LiveSnapshot of `model` for sample `index` of `data` (the
// trainer hook and the Inspect view's detail both use it).
LiveSnapshot make_live_snapshot(Model& model, const Dataset& data, int64_t index,
                                const NormStats& norm, bool with_filters);

class TrainingSession : public QObject {
  Q_OBJECT
 public:
  explicit TrainingSession(QObject* parent = nullptr);
  ~TrainingSession() override;  // stops the trainer and joins it

  enum class Mode { Idle, Training, LrFind };

  // Starts a run; false with *error on a config error (nothing started).
  bool start(const TrainConfig& config, QString* error);
  bool startLrFind(const TrainConfig& config, QString* error);
  bool resumeRun(int64_t run_id, const std::string& db_path, QString* error);

  void pause();
  void resume();
  void stop();
  // Stops and joins (used when closing the window): at most one batch.
  void stopAndWait();

  Mode mode() const { return mode_; }
  bool active() const { return mode_ != Mode::Idle; }
  bool paused() const;
  const TrainConfig& config() const { return config_; }

  // The probe image for the activation views; any thread may call it, the
  // trainer's hook reads it at its next snapshot.
  void setProbe(std::shared_ptr<const Dataset> data, int64_t index);
  // Batches between activation snapshots (also throttled by time).
  void setSnapshotEvery(int batches) { snapshot_every_ = batches; }
  void setPollInterval(int ms) { poll_.setInterval(ms); }

  // Drains the queue now (tests, shutdown).
  void poll();

 signals:
  void began(const perceptra::TrainBegin& e);
  void epochBegan(const perceptra::EpochBegin& e);
  void batches(const std::vector<perceptra::BatchEnd>& burst);
  void epochEnded(const perceptra::EpochEnd& e);
  void liveSnapshot(std::shared_ptr<const perceptra::studio::LiveSnapshot> s);
  void epochModel(std::shared_ptr<perceptra::Model> model, int epoch);
  void logMessage(const QString& level, const QString& text);
  void lrFindEnded(const perceptra::LrFindEnd& e);
  void ended(const perceptra::TrainEnd& e, bool lrFind);

 private:
  struct HookState;
  bool launch(std::unique_ptr<Trainer> trainer, Mode mode, QString* error);
  void install_hooks(Trainer& t);
  void dispatch(TrainEvent& e);

  std::unique_ptr<Trainer> trainer_;
  std::shared_ptr<HookState> hook_;
  TrainConfig config_;
  Mode mode_ = Mode::Idle;
  int snapshot_every_ = 10;
  QTimer poll_;
};

}  // namespace perceptra::studio
