#include "app/studio/training_session.h"

#include <atomic>

#include "core/interp/saliency.h"
#include "core/nn/model.h"
#include "core/tensor/error.h"
#include "core/train/callback.h"
#include "core/train/trainer.h"

namespace perceptra::studio {

using Clock = std::chrono::steady_clock;

LiveSnapshot make_live_snapshot(Model& model, const Dataset& data, int64_t index,
                                const NormStats& norm, bool with_filters) {
  LiveSnapshot s;
  ActivationSnapshot a = capture_activations(model, data, {index}, norm);
  s.probe_index = index;
  s.probe_label = a.probe_label.empty() ? -1 : a.probe_label[0];
  if (!a.probe_images.empty()) s.probe_image = a.probe_images[0];
  s.probabilities = a.probabilities;
  s.predicted = a.predicted.empty() ? -1 : a.predicted[0];
  ActivationImageOptions opt;
  opt.tiles.colormap = ColorMap::Viridis;
  opt.tiles.max_tiles = 64;  // wide layers: the first 64 channels keep the view readable
  opt.tiles.separator_value = 24;
  opt.strip.cell_w = 6;
  opt.strip.cell_h = 18;
  opt.strip.per_row = 64;
  for (const auto& l : a.layers) {
    LayerImage li;
    li.name = l.name;
    li.type = l.type;
    std::vector<int64_t> dims(l.shape.dims().begin() + 1, l.shape.dims().end());
    li.shape = Shape(dims);
    li.tiles = activation_image(l, 0, opt);
    s.layers.push_back(std::move(li));
  }
  if (with_filters) {
    try {
      TileOptions to;
      to.colormap = ColorMap::Gray;
      to.separator_value = 24;
      s.filters = first_layer_filters(model, to);
      s.has_filters = true;
    } catch (const std::exception&) {
      s.has_filters = false;  // no conv layer (an MLP): nothing to show
    }
  }
  return s;
}

struct TrainingSession::HookState {
  std::mutex mutex;
  std::shared_ptr<const Dataset> probe_data;
  int64_t probe_index = 0;
  std::atomic<bool> force_next{false};
  Clock::time_point last = Clock::time_point::min();
};

namespace {
// At each epoch end: a CPU copy of the weights for the Inspect view, and a
// forced activation snapshot right after (the hook runs next).
class EpochModelCallback : public Callback {
 public:
  explicit EpochModelCallback(std::shared_ptr<std::atomic<bool>> force) : force_(std::move(force)) {}
  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override {
    std::shared_ptr<Model> copy(clone_model(ctx.model(), Device::cpu()).release());
    ctx.publish(Snapshot{e.run_id, e.epoch, e.step, "epoch_model", copy});
    force_->store(true);
  }

 private:
  std::shared_ptr<std::atomic<bool>> force_;
};
}  // namespace

TrainingSession::TrainingSession(QObject* parent) : QObject(parent), hook_(std::make_shared<HookState>()) {
  poll_.setInterval(40);
  connect(&poll_, &QTimer::timeout, this, &TrainingSession::poll);
}

TrainingSession::~TrainingSession() { stopAndWait(); }

bool TrainingSession::paused() const { return trainer_ && trainer_->paused(); }

void TrainingSession::setProbe(std::shared_ptr<const Dataset> data, int64_t index) {
  std::lock_guard<std::mutex> lock(hook_->mutex);
  hook_->probe_data = std::move(data);
  hook_->probe_index = index;
  hook_->force_next = true;
}

void TrainingSession::install_hooks(Trainer& t) {
  auto state = hook_;
  auto force = std::shared_ptr<std::atomic<bool>>(state, &state->force_next);
  t.add_callback(std::make_shared<EpochModelCallback>(force));
  t.set_snapshot_hook("activations", std::max(1, snapshot_every_), [state](SnapshotContext& c) -> std::any {
    std::shared_ptr<const Dataset> data;
    int64_t index = 0;
    {
      std::lock_guard<std::mutex> lock(state->mutex);
      data = state->probe_data;
      index = state->probe_index;
    }
    if (!data || index < 0 || index >= data->size()) return {};
    // Bounded rate: at most ~3 snapshots a second unless one is asked for.
    const auto now = Clock::now();
    const bool forced = state->force_next.exchange(false);
    if (!forced && now - state->last < std::chrono::milliseconds(300)) return {};
    state->last = now;
    auto s = std::make_shared<LiveSnapshot>(make_live_snapshot(c.model, *data, index, c.norm, true));
    s->epoch = c.epoch;
    s->step = c.step;
    return std::shared_ptr<const LiveSnapshot>(s);
  });
}

bool TrainingSession::launch(std::unique_ptr<Trainer> trainer, Mode mode, QString* error) {
  try {
    if (mode == Mode::LrFind) {
      LrFinderConfig f;
      f.num_iters = 100;
      trainer->start_lr_find(f);
    } else {
      trainer->start();
    }
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
  config_ = trainer->config();
  trainer_ = std::move(trainer);
  mode_ = mode;
  poll_.start();
  return true;
}

bool TrainingSession::start(const TrainConfig& config, QString* error) {
  if (active()) {
    if (error) *error = tr("A run is already in progress.");
    return false;
  }
  try {
    config.validate();
    auto t = std::make_unique<Trainer>(config);
    install_hooks(*t);
    return launch(std::move(t), Mode::Training, error);
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

bool TrainingSession::startLrFind(const TrainConfig& config, QString* error) {
  if (active()) {
    if (error) *error = tr("A run is already in progress.");
    return false;
  }
  try {
    TrainConfig c = config;
    c.db_path.assign(1, '-');  // "-": a range test is not a run
    c.validate();
    return launch(std::make_unique<Trainer>(c), Mode::LrFind, error);
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

bool TrainingSession::resumeRun(int64_t run_id, const std::string& db_path, QString* error) {
  if (active()) {
    if (error) *error = tr("A run is already in progress.");
    return false;
  }
  try {
    auto t = Trainer::from_run(run_id, db_path);
    install_hooks(*t);
    return launch(std::move(t), Mode::Training, error);
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

void TrainingSession::pause() {
  if (trainer_) trainer_->pause();
}
void TrainingSession::resume() {
  if (trainer_) trainer_->resume();
}
void TrainingSession::stop() {
  if (trainer_) trainer_->stop();
}

void TrainingSession::stopAndWait() {
  if (!trainer_) return;
  trainer_->stop();
  trainer_->wait();
  poll();
}

void TrainingSession::poll() {
  if (!trainer_) return;
  // Keep the queue shared: dispatching may end the session (trainer reset).
  auto queue = trainer_->event_queue();
  std::vector<TrainEvent> events = queue->pop_all();
  std::vector<BatchEnd> burst;
  auto flush = [&] {
    if (!burst.empty()) emit batches(burst);
    burst.clear();
  };
  for (auto& e : events) {
    if (auto* b = std::get_if<BatchEnd>(&e)) {
      burst.push_back(*b);
      continue;
    }
    flush();
    dispatch(e);
  }
  flush();
}

void TrainingSession::dispatch(TrainEvent& ev) {
  if (auto* e = std::get_if<TrainBegin>(&ev)) {
    emit began(*e);
  } else if (auto* e = std::get_if<EpochBegin>(&ev)) {
    emit epochBegan(*e);
  } else if (auto* e = std::get_if<EpochEnd>(&ev)) {
    emit epochEnded(*e);
  } else if (auto* e = std::get_if<Snapshot>(&ev)) {
    if (e->kind == "activations") {
      if (auto* p = std::any_cast<std::shared_ptr<const LiveSnapshot>>(&e->payload)) emit liveSnapshot(*p);
    } else if (e->kind == "epoch_model") {
      if (auto* p = std::any_cast<std::shared_ptr<Model>>(&e->payload)) emit epochModel(*p, e->epoch);
    }
  } else if (auto* e = std::get_if<LogMessage>(&ev)) {
    emit logMessage(QString::fromStdString(e->level), QString::fromStdString(e->text));
  } else if (auto* e = std::get_if<LrFindEnd>(&ev)) {
    emit lrFindEnded(*e);
  } else if (auto* e = std::get_if<TrainEnd>(&ev)) {
    const bool lr = mode_ == Mode::LrFind;
    TrainEnd end = *e;
    poll_.stop();
    // TrainEnd is the last event: the thread is finishing; join it (short).
    trainer_->wait();
    trainer_.reset();
    mode_ = Mode::Idle;
    emit ended(end, lr);
  }
}

}  // namespace perceptra::studio
