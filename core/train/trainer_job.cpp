#include "core/train/trainer_job.h"

#include <filesystem>

#include "core/io/checkpoint.h"
#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/train/builtin_callbacks.h"
#include "core/train/run_recorder.h"

namespace fs = std::filesystem;

namespace perceptra {

Trainer::Job::Job(Trainer& trainer, std::shared_ptr<PreparedRun> run)
    : t(trainer), r(std::move(run)), group(trainer.group_), pos(r->position) {}

Trainer::Job::~Job() = default;

Model& Trainer::Job::model() { return *r->model; }
Optimizer& Trainer::Job::optimizer() { return *r->optimizer; }

void Trainer::Job::request_stop(EndReason reason, const std::string& message) {
  if (stop_req) return;  // the first reason wins (diverged before stopped)
  stop_req = true;
  stop_reason_ = reason;
  stop_message = message;
}

void Trainer::Job::publish(TrainEvent e) { t.events_->push(std::move(e)); }

void Trainer::Job::record_artifact(const std::string& kind, const std::string& path) {
  for (auto& cb : cbs) cb->on_artifact(*this, kind, path);
}

ModelMeta Trainer::Job::model_meta() {
  ModelMeta meta;
  meta.class_names = r->data->source.class_names;
  meta.mean = r->data->tv.norm.mean;
  meta.std = r->data->tv.norm.std;
  meta.resize = r->data->source.resize;  // image folders: predict/eval resize files the same way
  meta.training = {
      {"run_id", r->run_id}, {"dataset", r->data->source.name}, {"epochs", pos.epoch}, {"steps", pos.step}};
  if (have_epoch_end) {
    meta.training["valid_accuracy"] = last_epoch_end.valid_accuracy;
    meta.training["valid_loss"] = last_epoch_end.valid_loss;
  }
  return meta;
}

void Trainer::Job::save_checkpoint(const std::string& path) {
  const Phase& ph = r->phase_for(pos.epoch);
  CheckpointState st;
  st.epoch = pos.epoch;
  st.step = pos.step;
  st.schedule = {{"kind", r->phases.empty() ? "" : r->phases.front().schedule->kind()},
                 {"phase_first_step", ph.first_step},
                 {"position", pos.step - ph.first_step}};
  nlohmann::json& m = st.trainer;
  m["format"] = "perceptra-train-state";
  m["config"] = r->config.to_json();
  m["run_id"] = r->run_id;
  m["batch"] = pos.batch;  // batches done in epoch `epoch` (mid-epoch stop)
  m["head_index"] = r->head_index;
  m["epoch_sums"] = {
      {"loss_sum", pos.loss_sum}, {"correct", pos.correct}, {"count", pos.count}, {"seconds", pos.seconds}};
  m["best"] = {{"have", pos.have_best},
               {"value", pos.best_value},
               {"valid_accuracy", pos.best_valid_accuracy},
               {"bad_epochs", pos.bad_epochs}};
  if (!path.empty() && fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  perceptra::save_checkpoint(path, *r->model, r->optimizer.get(), model_meta(), st);
}

void Trainer::Job::save_model(const std::string& path) {
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  perceptra::save_model(path, *r->model, model_meta());
}

void Trainer::Job::install_callbacks(const std::vector<std::shared_ptr<Callback>>& user) {
  const TrainConfig& cfg = r->config;
  cbs.clear();
  cbs.push_back(std::make_shared<NanGuard>());
  if (r->recorder) cbs.push_back(r->recorder);
  if (cfg.early_stopping.patience > 0) cbs.push_back(std::make_shared<EarlyStopping>());
  // Ranks > 0 decide stops as rank 0 does (same global loss, same
  // validation) but write no files.
  if (!follower()) cbs.push_back(std::make_shared<CheckpointSaver>());
  if (!cfg.notify.command.empty() && !follower()) cbs.push_back(std::make_shared<NotifyCommand>());
  cbs.insert(cbs.end(), user.begin(), user.end());
}

void Trainer::Job::build_loaders() {
  const TrainConfig& cfg = r->config;
  LoaderOptions lo;
  lo.batch_size = cfg.batch_size;
  lo.shuffle = true;
  lo.seed = cfg.seed;
  lo.augment = cfg.augment;
  lo.norm = r->data->tv.norm;
  // A GPU step leaves the host's cores free: a worker's gather overlaps it.
  if (r->device.is_cuda()) lo.prefetch = 4;
  train_loader = std::make_unique<DataLoader>(r->data->tv.train_data, r->data->tv.train_indices, lo);
  LoaderOptions vo;
  // The cost estimate's batch: a model that trains at 16 large images must
  // not validate at 256 of them.
  vo.batch_size = r->inference_batch > 0 ? r->inference_batch : std::max(cfg.batch_size, 256);
  vo.shuffle = false;
  vo.norm = r->data->tv.norm;
  valid_loader = std::make_unique<DataLoader>(r->data->tv.valid_data, r->data->tv.valid_indices, vo);
  stepper = std::make_unique<TrainStep>(*r->model, *r->optimizer, r->device, cfg.label_smoothing);
  if (group) {
    // Between backward and the update: the global batch's loss and mean
    // gradients; a stop wished on any rank (Ctrl-C, SIGTERM) travels with
    // the step, so every rank stops after the same batch.
    stepper->set_gradient_hook([this](Model& m, StepResult& s, bool has_gradients) {
      if (group->combine_step(m, s, has_gradients, global_samples, t.stop_.load()))
        request_stop(EndReason::Stopped, "stopped by user");
    });
  }
}

bool Trainer::Job::should_stop() {
  if (t.pause_.load() && !t.stop_.load()) {
    publish(LogMessage{r->run_id, "info", "paused"});
    std::unique_lock<std::mutex> lock(t.mutex_);
    while (t.pause_.load() && !t.stop_.load()) {
      t.cv_.wait_for(lock, std::chrono::seconds(5));
      lock.unlock();
      for (auto& cb : cbs) cb->on_paused(*this);
      lock.lock();
    }
    if (!t.stop_.load()) publish(LogMessage{r->run_id, "info", "resumed"});
  }
  // Data-parallel ranks stop together: the wish travels with the next step.
  if (t.stop_.load() && !group) request_stop(EndReason::Stopped, "stopped by user");
  return stop_req;
}

void Trainer::Job::maybe_snapshot(bool force) {
  if (!t.snapshot_fn_ && !t.activations_fn_) return;
  if (!force && (t.snapshot_every_ <= 0 || pos.step % t.snapshot_every_ != 0)) return;
  SnapshotContext sc{*r->model, r->data->tv.norm, pos.epoch, pos.step};
  try {
    if (t.snapshot_fn_) {
      std::any payload = t.snapshot_fn_(sc);
      if (payload.has_value()) publish(Snapshot{r->run_id, pos.epoch, pos.step, t.snapshot_kind_, std::move(payload)});
    }
    if (t.activations_fn_) {
      if (auto s = t.activations_fn_(sc)) publish(ActivationsSnapshot{r->run_id, pos.epoch, pos.step, std::move(s)});
    }
  } catch (const std::exception& e) {
    publish(LogMessage{r->run_id, "warning", std::string("snapshot failed: ") + e.what()});
  }
}

TrainEnd Trainer::Job::finish(EndReason reason, const std::string& message) {
  TrainEnd end;
  end.run_id = r->run_id;
  end.reason = reason;
  end.message = message;
  end.epochs_completed = pos.epoch;
  end.steps = pos.step;
  end.best_valid_accuracy = pos.best_valid_accuracy;
  if (have_epoch_end) {
    end.final_valid_accuracy = last_epoch_end.valid_accuracy;
    end.final_valid_loss = last_epoch_end.valid_loss;
  }
  end.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  end.interrupted = interrupted;
  if ((reason == EndReason::Done || reason == EndReason::Stopped) && !r->run_dir.empty() && !follower()) {
    try {
      std::string path = (fs::path(r->run_dir) / "model.pmodel").string();
      save_model(path);
      end.model_path = path;
      record_artifact("model", path);
    } catch (const std::exception& ex) {
      end.message += (end.message.empty() ? "" : "; ") + std::string("saving the model failed: ") + ex.what();
    }
  }
  for (auto& cb : cbs) {
    try {
      cb->on_train_end(*this, end);
    } catch (const std::exception& ex) {
      publish(LogMessage{r->run_id, "warning", std::string("callback failed at train end: ") + ex.what()});
    }
  }
  for (auto& cb : cbs) {
    try {
      cb->on_run_end(*this, end);
    } catch (const std::exception& ex) {
      publish(LogMessage{r->run_id, "warning", std::string("callback failed at run end: ") + ex.what()});
    }
  }
  return end;
}

}  // namespace perceptra
