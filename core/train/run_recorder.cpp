#include "core/train/run_recorder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/curate/dataset_versions.h"
#include "core/curate/ledger.h"
#include "core/store/machine.h"
#include "core/tensor/error.h"
#include "core/train/setup.h"

namespace fs = std::filesystem;

namespace perceptra {

namespace {

RunStatus status_for(EndReason r) {
  switch (r) {
    case EndReason::Done:
      return RunStatus::Finished;
    case EndReason::Stopped:
      return RunStatus::Stopped;
    case EndReason::Diverged:
      return RunStatus::Diverged;
    case EndReason::Error:
      return RunStatus::Failed;
  }
  return RunStatus::Failed;
}

DatasetRecord dataset_record(const PreparedData& data) {
  DatasetRecord d;
  d.name = data.source.name;
  d.path = data.source.location;
  d.kind = data.source.format;
  d.num_classes = static_cast<int>(data.source.class_names.size());
  d.num_train = static_cast<int64_t>(data.tv.train_indices.size());
  d.num_valid = static_cast<int64_t>(data.tv.valid_indices.size());
  d.fingerprint = d.kind + ":" + std::to_string(data.tv.train_data->size()) + ":" +
                  std::to_string(data.tv.valid_data->size()) + ":" + std::to_string(d.num_classes);
  d.info = {{"classes", data.source.class_names}, {"split", data.tv.split.to_json(false)}};
  return d;
}

}  // namespace

RunRecorder::RunRecorder(std::unique_ptr<ExperimentStore> store, int64_t run_id)
    : store_(std::move(store)), run_id_(run_id) {}

RunRecorder::~RunRecorder() = default;

std::shared_ptr<RunRecorder> RunRecorder::create(const std::string& db_path, const TrainConfig& config,
                                                 const PreparedData& data, const nlohmann::json& spec,
                                                 const std::string& device_description) {
  auto store = std::make_unique<ExperimentStore>(db_path);
  NewRun nr;
  nr.name = config.run_name;
  nr.seed = config.seed;
  nr.dataset_id = store->register_dataset(dataset_record(data));
  nr.model_spec = spec;
  nr.hparams = config.to_json();
  // "@latest" is recorded as the number it meant, so the run reopens on it.
  nr.dataset_version = data.dataset_version;
  if (data.dataset_version > 0)
    nr.hparams["data"] = parse_data_ref(config.data).name + "@" + std::to_string(data.dataset_version);
  nr.machine = machine_metadata(device_description);
  const int64_t id = store->create_run(nr);
  return std::shared_ptr<RunRecorder>(new RunRecorder(std::move(store), id));
}

std::shared_ptr<RunRecorder> RunRecorder::reopen(const std::string& db_path, int64_t run_id,
                                                 const nlohmann::json* hparams) {
  auto store = std::make_unique<ExperimentStore>(db_path);
  RunRecord before = store->run(run_id);  // StoreError for an unknown run
  // Claimed first: a run another process owns keeps its configuration.
  RunRecord claimed = store->reopen_run(run_id);
  before.status = claimed.status;
  before.status_message = claimed.status_message;
  before.ended_at = claimed.ended_at;
  if (hparams) store->update_hparams(run_id, *hparams);
  auto recorder = std::shared_ptr<RunRecorder>(new RunRecorder(std::move(store), run_id));
  recorder->before_resume_ = std::move(before);
  return recorder;
}

std::optional<std::string> RunRecorder::latest_checkpoint() {
  auto a = store_->latest_artifact(run_id_, "checkpoint");
  if (!a) return std::nullopt;
  if (!store_->verify_artifact(*a))
    throw InputError(a->path, "checkpoint is missing or does not match its recorded checksum");
  return a->path;
}

// Where its checkpoint (or, before the first checkpoint, any other file)
// was recorded.
std::string RunRecorder::recorded_run_dir() {
  auto a = store_->latest_artifact(run_id_, "checkpoint");
  if (a) return fs::path(a->path).parent_path().string();
  for (auto& r : store_->artifacts(run_id_))
    if (r.kind == "best" || r.kind == "model" || r.kind == "last") return fs::path(r.path).parent_path().string();
  return "";
}

void RunRecorder::fail(const std::string& message) noexcept {
  try {
    if (before_resume_) {
      // A run whose owner died reads 'running' until recovered: it was interrupted.
      if (before_resume_->status == RunStatus::Running) before_resume_->status = RunStatus::Interrupted;
      store_->update_hparams(run_id_, before_resume_->hparams);
      store_->restore_run_status(*before_resume_, "resume failed: " + message);
      return;
    }
    store_->finish_run(run_id_, RunStatus::Failed, message);
  } catch (const std::exception&) {}
}

// ---- metrics ------------------------------------------------------------------

void RunRecorder::flush() {
  if (pending_.empty()) return;
  store_->add_metrics(run_id_, pending_);
  pending_.clear();
}

void RunRecorder::add(int64_t step, int64_t epoch, const char* name, double value) {
  // A non-finite value is not a number SQLite can average; the run's status
  // says what happened.
  if (!std::isfinite(value)) return;
  auto it = recorded_up_to_.find(name);
  if (it != recorded_up_to_.end() && step <= it->second) return;
  pending_.push_back({step, epoch, name, value});
}

double RunRecorder::trained_seconds() {
  const auto now = Clock::now();
  if (paused_since_) {  // a pause ends at the next batch
    paused_s_ += std::chrono::duration<double>(now - *paused_since_).count();
    paused_since_.reset();
  }
  if (!begin_) return trained_before_;
  return trained_before_ + std::max(0.0, std::chrono::duration<double>(now - *begin_).count() - paused_s_);
}

void RunRecorder::on_train_begin(TrainContext&, const TrainBegin& b) {
  begin_ = last_flush_ = Clock::now();
  if (!b.resumed) return;
  for (const auto& name : store_->metric_names(run_id_)) {
    MetricSeries s = store_->metric_series(run_id_, name);
    if (s.size()) recorded_up_to_[name] = *std::max_element(s.steps.begin(), s.steps.end());
    if (name == "trained_seconds" && s.size()) trained_before_ = *std::max_element(s.values.begin(), s.values.end());
  }
}

void RunRecorder::on_batch_end(TrainContext&, const BatchEnd& b) {
  add(b.step, b.epoch, "train_loss", b.loss);
  add(b.step, b.epoch, "lr", b.lr);
  // Slow batches (large images on a CPU) flush on time, so a kill loses
  // seconds of the record, not minutes.
  const bool due = last_flush_ && Clock::now() - *last_flush_ >= std::chrono::seconds(5);
  if (static_cast<int>(pending_.size()) >= 2 * flush_every_ || due) {
    // Not deduplicated by step: a resumed run's clock keeps counting.
    pending_.push_back({b.step, b.epoch, "trained_seconds", trained_seconds()});
    flush();
    last_flush_ = Clock::now();
  }
}

void RunRecorder::on_epoch_end(TrainContext&, const EpochEnd& e) {
  auto add = [&](const char* name, double v) { this->add(e.step, e.epoch, name, v); };
  add("epoch_train_loss", e.train_loss);
  add("train_accuracy", e.train_accuracy);
  add("valid_loss", e.valid_loss);
  add("valid_accuracy", e.valid_accuracy);
  add("error_rate", e.error_rate);
  add("top_k_accuracy", e.top_k_accuracy);
  add("images_per_s", e.images_per_s);
  add("epoch_seconds", e.seconds);
  pending_.push_back({e.step, e.epoch, "trained_seconds", trained_seconds()});
  flush();
  last_flush_ = Clock::now();
}

void RunRecorder::on_train_end(TrainContext& ctx, TrainEnd& end) {
  if (begin_) pending_.push_back({end.steps, end.epochs_completed, "trained_seconds", trained_seconds()});
  flush();
  // The ledger: every image scored by the final weights, written in one
  // transaction before the run's status says it ended. Only for runs that
  // ran their course (early stopping included): a failed or diverged run
  // has no meaningful predictions, and a user's Stop must end the run at
  // once (`perceptra-cli data ledger --run ID` scores it later).
  if (!ctx.config().ledger || end.reason != EndReason::Done) return;
  try {
    const PreparedData& data = ctx.data();
    std::shared_ptr<const SourceIdentities> ids = data.ids;
    if (!ids) ids = std::make_shared<SourceIdentities>(identify(data.source));
    const auto entries = score_images(ctx.model(), data.tv, *ids);
    write_ledger(*store_, run_id_, data.dataset_key, data.dataset_version, "final", entries);
  } catch (const std::exception& ex) {
    ctx.publish(LogMessage{run_id_, "warning", std::string("ledger not written: ") + ex.what()});
  }
}

// ---- files, liveness, the end ---------------------------------------------------

void RunRecorder::on_artifact(TrainContext&, const std::string& kind, const std::string& path) {
  store_->add_artifact(run_id_, kind, path);
}

void RunRecorder::on_paused(TrainContext&) {
  if (!paused_since_) paused_since_ = Clock::now();
  try {
    store_->heartbeat(run_id_);
  } catch (const std::exception&) {}
}

void RunRecorder::on_run_end(TrainContext& ctx, const TrainEnd& end) {
  try {
    // A lost data-parallel rank interrupts the run (resumable), not fails it.
    store_->finish_run(run_id_, end.interrupted ? RunStatus::Interrupted : status_for(end.reason), end.message);
  } catch (const std::exception& ex) {
    ctx.publish(LogMessage{run_id_, "warning", std::string("store: ") + ex.what()});
  }
}

}  // namespace perceptra
