#include "app/studio/training_session.h"

#include <QtConcurrent/QtConcurrent>

#include <atomic>
#include <mutex>

#include "core/interp/live_snapshot.h"
#include "core/interp/saliency.h"
#include "core/nn/model.h"
#include "core/train/callback.h"
#include "core/train/trainer.h"

namespace perceptra::studio {

using Clock = std::chrono::steady_clock;

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
    ctx.publish(EpochModel{e.run_id, e.epoch, e.step, std::move(copy)});
    force_->store(true);
  }

 private:
  std::shared_ptr<std::atomic<bool>> force_;
};
}  // namespace

TrainingSession::TrainingSession(QObject* parent) : QObject(parent), hook_(std::make_shared<HookState>()) {
  finder_.num_iters = 100;
  poll_.setInterval(40);
  connect(&poll_, &QTimer::timeout, this, &TrainingSession::poll);
  connect(&prepareWatcher_, &QFutureWatcher<Prepared>::finished, this, &TrainingSession::onPrepared);
}

TrainingSession::~TrainingSession() { stopAndWait(); }

bool TrainingSession::paused() const { return trainer_ ? trainer_->paused() : pauseRequested_ && active(); }

std::shared_ptr<const PreparedRun> TrainingSession::run() const { return trainer_ ? trainer_->run() : nullptr; }

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
  t.set_activations_hook(
      std::max(1, snapshot_every_), [state](SnapshotContext& c) -> std::shared_ptr<const LiveSnapshot> {
        std::shared_ptr<const Dataset> data;
        int64_t index = 0;
        {
          std::lock_guard<std::mutex> lock(state->mutex);
          data = state->probe_data;
          index = state->probe_index;
        }
        if (!data || index < 0 || index >= data->size()) return nullptr;
        // Bounded rate: at most ~3 snapshots a second unless one is asked for.
        const auto now = Clock::now();
        const bool forced = state->force_next.exchange(false);
        if (!forced && now - state->last < std::chrono::milliseconds(300)) return nullptr;
        state->last = now;
        auto s = std::make_shared<LiveSnapshot>(make_live_snapshot(c.model, *data, index, c.norm, true));
        s->epoch = c.epoch;
        s->step = c.step;
        return s;
      });
}

bool TrainingSession::start(Mode mode, const TrainConfig& config, Prepare prepare, QString* error) {
  if (active()) {
    if (error) *error = tr("A run is already in progress.");
    return false;
  }
  config_ = config;
  mode_ = mode;
  stopRequested_ = pauseRequested_ = false;
  prepareWatcher_.setFuture(QtConcurrent::run([prepare = std::move(prepare)] {
    Prepared p;
    try {
      p.run = prepare();
    } catch (const std::exception& e) {
      p.error = e.what();
    }
    return p;
  }));
  return true;
}

void TrainingSession::onPrepared() {
  // Already handled (stopAndWait), or a stale signal of an earlier future.
  QFuture<Prepared> f = prepareWatcher_.future();
  if (mode_ == Mode::Idle || trainer_ || !f.isFinished()) return;
  Prepared p = f.result();
  if (!p.run) {
    TrainEnd end;
    end.reason = EndReason::Error;
    end.message = p.error;
    endWith(end);
    return;
  }
  emit prepared(p.run->data);
  launch(std::move(p.run));
}

void TrainingSession::launch(std::shared_ptr<PreparedRun> run) {
  try {
    auto t = std::make_unique<Trainer>(run);
    config_ = t->config();
    // Stopped while preparing: the run starts and ends at once, recorded as
    // stopped like any other.
    if (stopRequested_) t->stop();
    if (pauseRequested_) t->pause();  // paused while preparing: holds before the first batch
    if (mode_ == Mode::LrFind) {
      t->start_lr_find(finder_);
    } else {
      install_hooks(*t);
      t->start();
    }
    trainer_ = std::move(t);
    poll_.start();
  } catch (const std::exception& e) {
    TrainEnd end;
    end.reason = EndReason::Error;
    end.message = e.what();
    endWith(end);
  }
}

void TrainingSession::pause() {
  pauseRequested_ = true;
  if (trainer_) trainer_->pause();
}
void TrainingSession::resume() {
  pauseRequested_ = false;
  if (trainer_) trainer_->resume();
}
void TrainingSession::stop() {
  stopRequested_ = true;
  if (trainer_) trainer_->stop();
}

void TrainingSession::stopAndWait() {
  if (!active()) return;
  stop();
  if (!trainer_) {
    prepareWatcher_.waitForFinished();
    onPrepared();
  }
  if (!trainer_) return;
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

void TrainingSession::endWith(const TrainEnd& end) {
  const bool lr = mode_ == Mode::LrFind;
  poll_.stop();
  if (trainer_) {
    // TrainEnd is the last event: the thread is finishing; join it (short).
    trainer_->wait();
    trainer_.reset();
  }
  mode_ = Mode::Idle;
  emit ended(end, lr);
}

void TrainingSession::dispatch(TrainEvent& ev) {
  if (auto* e = std::get_if<TrainBegin>(&ev)) {
    emit began(*e);
  } else if (auto* e = std::get_if<EpochBegin>(&ev)) {
    emit epochBegan(*e);
  } else if (auto* e = std::get_if<EpochEnd>(&ev)) {
    emit epochEnded(*e);
  } else if (auto* e = std::get_if<ActivationsSnapshot>(&ev)) {
    emit liveSnapshot(e->snapshot);
  } else if (auto* e = std::get_if<EpochModel>(&ev)) {
    emit epochModel(e->model, e->epoch);
  } else if (auto* e = std::get_if<LogMessage>(&ev)) {
    emit logMessage(QString::fromStdString(e->level), QString::fromStdString(e->text));
  } else if (auto* e = std::get_if<LrFindEnd>(&ev)) {
    emit lrFindEnded(*e);
  } else if (auto* e = std::get_if<TrainEnd>(&ev)) {
    endWith(*e);
  }
}

}  // namespace perceptra::studio
