#include "core/train/trainer.h"

#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "core/backend/backend.h"
#include "core/io/checkpoint.h"
#include "core/io/model_file.h"
#include "core/data/loader.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/store/machine.h"
#include "core/store/store.h"
#include "core/tensor/error.h"
#include "core/train/builtin_callbacks.h"
#include "core/train/evaluate.h"
#include "core/train/setup.h"
#include "core/train/transfer.h"

namespace fs = std::filesystem;

namespace perceptra {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

RunStatus status_for(EndReason r) {
  switch (r) {
    case EndReason::Done: return RunStatus::Finished;
    case EndReason::Stopped: return RunStatus::Stopped;
    case EndReason::Diverged: return RunStatus::Diverged;
    case EndReason::Error: return RunStatus::Failed;
  }
  return RunStatus::Failed;
}

// One schedule per training phase (transfer learning has a frozen and an
// unfrozen phase, each a full schedule as in fastai's fine_tune).
struct Phase {
  int first_epoch = 0, end_epoch = 0;
  int64_t first_step = 0;
  std::unique_ptr<Schedule> schedule;
};

}  // namespace

// ---------------------------------------------------------------------------

struct Trainer::Job final : TrainContext {
  Trainer& t;
  TrainConfig cfg;
  std::vector<std::shared_ptr<Callback>> cbs;

  PreparedData data;
  std::unique_ptr<DataLoader> train_loader, valid_loader;
  std::unique_ptr<Model> model_;
  std::unique_ptr<Optimizer> opt_;
  std::unique_ptr<ExperimentStore> store_;
  std::vector<Phase> phases;
  nlohmann::json spec;
  int head_index = -1;  // transfer learning: the replaced/kept head
  int64_t run_id_ = 0;
  std::string run_dir_;
  Device device;
  std::string device_note;

  // Position: the epoch in progress and batches done in it; steps overall.
  int epoch_ = 0;
  int64_t batch_ = 0, step_ = 0, bpe_ = 0;
  // Training sums of the epoch in progress (so a mid-epoch resume reports
  // the same epoch loss).
  double ep_loss_sum = 0, ep_seconds = 0;
  int64_t ep_correct = 0, ep_count = 0;
  // Best monitored value and epochs since it improved.
  bool have_best = false;
  double best_value = 0, best_valid_accuracy = 0;
  int bad_epochs = 0;
  EpochEnd last_epoch_end;
  bool have_epoch_end = false;

  bool stop_req = false;
  EndReason stop_reason_ = EndReason::Done;
  std::string stop_message;
  Clock::time_point t_start = Clock::now();
  bool resumed = false;

  Job(Trainer& trainer, TrainConfig c) : t(trainer), cfg(std::move(c)) {}

  // ---- TrainContext ----------------------------------------------------
  const TrainConfig& config() const override { return cfg; }
  Model& model() override { return *model_; }
  Optimizer& optimizer() override { return *opt_; }
  ExperimentStore* store() override { return store_.get(); }
  int64_t run_id() const override { return run_id_; }
  const std::string& run_dir() const override { return run_dir_; }
  int epoch() const override { return epoch_; }
  int64_t step() const override { return step_; }
  void request_stop(EndReason reason, const std::string& message) override {
    if (stop_req) return;  // the first reason wins (diverged before stopped)
    stop_req = true;
    stop_reason_ = reason;
    stop_message = message;
  }
  bool stop_requested() const override { return stop_req; }
  EndReason stop_reason() const override { return stop_reason_; }
  int epochs_without_improvement() const override { return bad_epochs; }
  void publish(TrainEvent e) override { t.events_->push(std::move(e)); }

  ModelMeta model_meta() {
    ModelMeta meta;
    meta.class_names = data.source.class_names;
    meta.mean = data.tv.norm.mean;
    meta.std = data.tv.norm.std;
    meta.resize = data.source.resize;  // image folders: predict/eval resize files the same way
    meta.training = {{"run_id", run_id_}, {"dataset", data.source.name}, {"epochs", epoch_},
                     {"steps", step_}};
    if (have_epoch_end) {
      meta.training["valid_accuracy"] = last_epoch_end.valid_accuracy;
      meta.training["valid_loss"] = last_epoch_end.valid_loss;
    }
    return meta;
  }

  void save_checkpoint(const std::string& path) override {
    CheckpointState st;
    st.epoch = epoch_;
    st.step = step_;
    st.schedule = {{"kind", phases.empty() ? "" : phases.front().schedule->kind()},
                   {"phase_first_step", phase_for(epoch_).first_step},
                   {"position", step_ - phase_for(epoch_).first_step}};
    nlohmann::json& m = st.trainer;
    m["format"] = "perceptra-train-state";
    m["config"] = cfg.to_json();
    m["run_id"] = run_id_;
    m["batch"] = batch_;  // batches done in epoch `epoch` (mid-epoch stop)
    m["head_index"] = head_index;
    m["epoch_sums"] = {{"loss_sum", ep_loss_sum}, {"correct", ep_correct},
                       {"count", ep_count}, {"seconds", ep_seconds}};
    m["best"] = {{"have", have_best}, {"value", best_value},
                 {"valid_accuracy", best_valid_accuracy}, {"bad_epochs", bad_epochs}};
    if (!path.empty() && fs::path(path).has_parent_path())
      fs::create_directories(fs::path(path).parent_path());
    perceptra::save_checkpoint(path, *model_, opt_.get(), model_meta(), st);
  }

  void save_model(const std::string& path) override {
    if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
    perceptra::save_model(path, *model_, model_meta());
  }

  // ---- setup -----------------------------------------------------------
  bool transfer() const { return head_index >= 0 && cfg.freeze_epochs > 0; }
  bool frozen_at(int epoch) const { return transfer() && epoch < cfg.freeze_epochs; }

  void resolve_device_and_threads() {
    if (cfg.threads > 0) omp_set_num_threads(cfg.threads);
    device = resolve_device(DeviceRequest::parse(cfg.device), &device_note);
    // The CPU fallback note is for builds with CUDA where no device is
    // usable; a build without CUDA training on the CPU is the normal case.
    if (!probe_cuda().compiled) device_note.clear();
  }

  void build_loaders() {
    LoaderOptions lo;
    lo.batch_size = cfg.batch_size;
    lo.shuffle = true;
    lo.seed = cfg.seed;
    lo.augment = cfg.augment;
    lo.norm = data.tv.norm;
    train_loader = std::make_unique<DataLoader>(data.tv.train_data, data.tv.train_indices, lo);
    LoaderOptions vo;
    vo.batch_size = std::max(cfg.batch_size, 256);
    vo.shuffle = false;
    vo.norm = data.tv.norm;
    valid_loader = std::make_unique<DataLoader>(data.tv.valid_data, data.tv.valid_indices, vo);
    bpe_ = train_loader->num_batches();
    if (cfg.max_batches > 0) bpe_ = std::min(bpe_, cfg.max_batches);
  }

  void build_phases() {
    phases.clear();
    ScheduleConfig sc = cfg.schedule;
    if (cfg.fit == "one-cycle") sc.kind = "onecycle";
    std::vector<std::pair<int, int>> ranges;
    if (transfer() && cfg.freeze_epochs < cfg.epochs)
      ranges = {{0, cfg.freeze_epochs}, {cfg.freeze_epochs, cfg.epochs}};
    else
      ranges = {{0, cfg.epochs}};
    for (auto [a, b] : ranges) {
      Phase p;
      p.first_epoch = a;
      p.end_epoch = b;
      p.first_step = a * bpe_;
      p.schedule = make_schedule(sc, cfg.optimizer.lr, cfg.optimizer.momentum, (b - a) * bpe_);
      phases.push_back(std::move(p));
    }
  }

  const Phase& phase_for(int epoch) const {
    for (auto& p : phases)
      if (epoch >= p.first_epoch && epoch < p.end_epoch) return p;
    return phases.back();
  }

  // Builds the model from scratch, from a model file (transfer) or from a
  // checkpoint (resume; then `ckpt` is set).
  void build_model(const Checkpoint* ckpt, const std::string& ckpt_path) {
    Shape input = data.tv.train_data->sample_shape();
    int classes = static_cast<int>(data.source.class_names.size());
    Rng rng(cfg.seed);
    if (ckpt) {
      head_index = ckpt->state.trainer.value("head_index", -1);
      model_ = perceptra::build_model(*ckpt, device);
      if (model_->input_shape() != input || model_->num_classes() != classes)
        throw InputError(ckpt_path, "checkpoint model (input " + model_->input_shape().str() +
                                        ", " + std::to_string(model_->num_classes()) +
                                        " classes) does not fit the data");
    } else if (!cfg.from_model.empty()) {
      LoadedModel loaded = load_model(cfg.from_model, device);
      model_ = adapt_for_transfer(loaded, input, classes, rng, cfg.from_model);
      head_index = head_layer_index(model_->spec(), cfg.from_model);
    } else {
      nlohmann::json s = resolve_model_spec(cfg.model, input, classes);
      try {
        model_ = Model::from_spec(s, rng, device);
      } catch (const InputError& e) {
        // "layer 0 (conv2d): unknown field ..." says what but not where.
        std::string file = model_spec_file(cfg.model);
        if (file.empty()) throw;
        throw InputError(file, e.what());
      }
    }
    model_->to(device);
    spec = model_->spec();
    if (head_index >= 0) assign_transfer_groups(*model_, head_index);
    opt_ = make_optimizer(cfg.optimizer, model_->parameters());
    if (head_index >= 0) apply_lr_scales(*opt_, cfg.lr_mult);
    if (ckpt) restore_checkpoint(*ckpt, *model_, opt_.get(), ckpt_path);
  }

  void restore_position(const Checkpoint& c) {
    const auto& m = c.state.trainer;
    epoch_ = static_cast<int>(c.state.epoch);
    step_ = c.state.step;
    batch_ = m.at("batch").get<int64_t>();
    const auto& s = m.at("epoch_sums");
    ep_loss_sum = s.at("loss_sum").get<double>();
    ep_correct = s.at("correct").get<int64_t>();
    ep_count = s.at("count").get<int64_t>();
    ep_seconds = s.at("seconds").get<double>();
    const auto& b = m.at("best");
    have_best = b.at("have").get<bool>();
    best_value = b.at("value").get<double>();
    best_valid_accuracy = b.at("valid_accuracy").get<double>();
    bad_epochs = b.at("bad_epochs").get<int>();
    // The statistics the weights were trained with (recomputing them gives
    // the same numbers, but the file is the authority).
    if (!c.meta.mean.empty()) {
      data.tv.norm.mean = c.meta.mean;
      data.tv.norm.std = c.meta.std;
    }
  }

  // Image folders decode to the size of the model we continue from.
  void prepare_data_for_model(const Checkpoint* ckpt) {
    if (ckpt) {
      Shape in(ckpt->spec.at("input").get<std::vector<int64_t>>());
      data = prepare_data(cfg, &in);
    } else if (!cfg.from_model.empty()) {
      ModelFileInfo info = inspect_model_file(cfg.from_model);
      Shape in(info.spec.at("input").get<std::vector<int64_t>>());
      data = prepare_data(cfg, &in);
    } else {
      data = prepare_data(cfg);
    }
  }

  // A run writes only into a folder of its own: `run-<id>` when free, else
  // `run-<id>-2`, `-3`, ... (another database, or a deleted run, may have
  // used the id in the same --out). The folder is created here, so a folder
  // that already exists is never written into. A resumed run continues in
  // the folder its recorded artifacts are in (`recorded`), wherever --out
  // and the working directory are now.
  void make_run_dir(const std::string& recorded) {
    if (!recorded.empty()) {
      fs::create_directories(recorded);
      run_dir_ = recorded;
      return;
    }
    std::string base;
    if (run_id_ > 0) {
      base = "run-" + std::to_string(run_id_);
    } else {
      char buf[64];
      std::time_t now = std::time(nullptr);
      std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
      base = std::string("run-") + buf + "-" + std::to_string(::getpid());
    }
    fs::create_directories(cfg.out_dir);
    for (int k = 1; k <= 100000; ++k) {
      fs::path p = fs::path(cfg.out_dir) / (k == 1 ? base : base + "-" + std::to_string(k));
      std::error_code ec;
      if (fs::exists(p, ec)) continue;
      // create_directory is false when someone else made it meanwhile.
      if (fs::create_directory(p, ec)) {
        run_dir_ = fs::absolute(p).string();
        return;
      }
      if (ec && !fs::exists(p)) throw InputError(p.string(), "cannot create run folder: " + ec.message());
    }
    throw InputError(cfg.out_dir, "no free run folder for '" + base + "'");
  }

  // The folder of a resumed run: where its checkpoint (or, before the first
  // checkpoint, any other file) was recorded. Empty when nothing was.
  std::string recorded_run_dir() {
    if (!store_ || run_id_ <= 0) return "";
    auto a = store_->latest_artifact(run_id_, "checkpoint");
    if (a) return fs::path(a->path).parent_path().string();
    for (auto& r : store_->artifacts(run_id_))
      if (r.kind == "best" || r.kind == "model" || r.kind == "last") return fs::path(r.path).parent_path().string();
    return "";
  }

  void install_builtin_callbacks() {
    std::vector<std::shared_ptr<Callback>> builtins;
    builtins.push_back(std::make_shared<NanGuard>());
    if (store_) builtins.push_back(std::make_shared<MetricsRecorder>());
    if (cfg.early_stopping.patience > 0) builtins.push_back(std::make_shared<EarlyStopping>());
    builtins.push_back(std::make_shared<CheckpointSaver>());
    if (!cfg.notify.command.empty()) builtins.push_back(std::make_shared<NotifyCommand>());
    builtins.insert(builtins.end(), cbs.begin(), cbs.end());
    cbs = std::move(builtins);
  }

  // ---- the loop ----------------------------------------------------------

  // Between batches: honours pause (heartbeating the store) and stop.
  bool should_stop() {
    if (t.pause_.load() && !t.stop_.load()) {
      publish(LogMessage{run_id_, "info", "paused"});
      std::unique_lock<std::mutex> lock(t.mutex_);
      while (t.pause_.load() && !t.stop_.load()) {
        t.cv_.wait_for(lock, std::chrono::seconds(5));
        if (store_) {
          lock.unlock();
          try {
            store_->heartbeat(run_id_);
          } catch (const std::exception&) {
          }
          lock.lock();
        }
      }
      if (!t.stop_.load()) publish(LogMessage{run_id_, "info", "resumed"});
    }
    if (t.stop_.load()) request_stop(EndReason::Stopped, "stopped by user");
    return stop_req;
  }

  void maybe_snapshot(bool force) {
    if (!t.snapshot_fn_) return;
    if (!force && (t.snapshot_every_ <= 0 || step_ % t.snapshot_every_ != 0)) return;
    SnapshotContext sc{*model_, data.tv.norm, epoch_, step_};
    try {
      std::any payload = t.snapshot_fn_(sc);
      if (payload.has_value()) publish(Snapshot{run_id_, epoch_, step_, t.snapshot_kind_, std::move(payload)});
    } catch (const std::exception& e) {
      publish(LogMessage{run_id_, "warning", std::string("snapshot failed: ") + e.what()});
    }
  }

  // Trains the rest of epoch `epoch_` from batch `batch_`. False when stopped.
  bool train_epoch() {
    const Phase& ph = phase_for(epoch_);
    bool frozen = frozen_at(epoch_);
    if (head_index >= 0) set_body_frozen(*model_, head_index, frozen);
    EpochBegin eb{run_id_, epoch_, cfg.epochs, frozen};
    publish(eb);
    for (auto& cb : cbs) cb->on_epoch_begin(*this, eb);

    SoftmaxCrossEntropy loss(cfg.label_smoothing);
    train_loader->start_epoch(epoch_);
    Batch b;
    // A resumed epoch skips the batches already trained (the order depends
    // only on seed and epoch, so these are the same samples).
    for (int64_t i = 0; i < batch_; ++i)
      if (!train_loader->next(b)) break;
    double ema_rate = 0;
    auto t_batch = Clock::now();
    while (batch_ < bpe_) {
      if (should_stop()) return false;
      if (!train_loader->next(b)) break;
      ph.schedule->apply(step_ - ph.first_step, *opt_);
      Tensor x = b.images.to(device), y = b.labels.to(device);
      Tensor logits = model_->forward(x, true);
      double l = loss.forward(logits, y);
      const int n = static_cast<int>(b.labels.numel());
      int correct = 0;
      if (std::isfinite(l)) {
        model_->backward(loss.backward(), /*need_input_grad=*/false);
        opt_->step();
        auto probs = loss.probs().to_vector();
        auto labels = b.labels.to_vector();
        const int C = model_->num_classes();
        for (int i = 0; i < n; ++i)
          correct += argmax(probs.data() + static_cast<size_t>(i) * C, C) ==
                     static_cast<int>(std::lround(labels[i]));
      }
      double dt = seconds_since(t_batch);
      t_batch = Clock::now();
      ep_seconds += dt;
      double rate = dt > 0 ? n / dt : 0;
      ema_rate = ema_rate == 0 ? rate : 0.9 * ema_rate + 0.1 * rate;
      ep_loss_sum += l * n;
      ep_correct += correct;
      ep_count += n;
      BatchEnd be{run_id_, epoch_,  step_, batch_, bpe_, l, n ? double(correct) / n : 0.0,
                  opt_->lr(), opt_->momentum(), ema_rate};
      ++step_;
      ++batch_;
      publish(be);
      for (auto& cb : cbs) cb->on_batch_end(*this, be);
      if (stop_req) return false;
      maybe_snapshot(false);
    }
    return true;
  }

  // Validation and the epoch's summary. False when stopped during it.
  bool end_epoch() {
    auto t0 = Clock::now();
    EvalOptions eo;
    eo.top_k = cfg.top_k;
    eo.cancel = &t.stop_;
    eo.max_batches = cfg.max_batches;
    EvalResult r = evaluate(*model_, *valid_loader, eo);
    if (r.cancelled) {
      request_stop(EndReason::Stopped, "stopped by user");
      return false;
    }
    const auto& m = r.metrics;
    EpochEnd e;
    e.run_id = run_id_;
    e.epoch = epoch_;
    e.epochs = cfg.epochs;
    e.step = step_;
    e.train_loss = ep_count ? ep_loss_sum / ep_count : 0;
    e.train_accuracy = ep_count ? double(ep_correct) / ep_count : 0;
    e.valid_loss = m.mean_loss();
    e.valid_accuracy = m.accuracy();
    e.error_rate = m.error_rate();
    e.top_k = m.top_k();
    e.top_k_accuracy = m.top_k_accuracy();
    e.class_names = data.source.class_names;
    e.confusion = m.confusion();
    e.precision = m.precision();
    e.recall = m.recall();
    e.f1 = m.f1();
    e.images_per_s = ep_seconds > 0 ? ep_count / ep_seconds : 0;
    e.seconds = ep_seconds + seconds_since(t0);
    // Improvement on the monitored metric.
    bool by_acc = cfg.early_stopping.monitor == "valid_accuracy";
    double v = by_acc ? e.valid_accuracy : e.valid_loss;
    double delta = cfg.early_stopping.min_delta;
    if (std::isfinite(v) && (!have_best || (by_acc ? v > best_value + delta : v < best_value - delta))) {
      have_best = true;
      best_value = v;
      bad_epochs = 0;
      e.improved = true;
    } else {
      ++bad_epochs;
    }
    best_valid_accuracy = std::max(best_valid_accuracy, e.valid_accuracy);
    // The epoch is complete: the position moves to the next one.
    ++epoch_;
    batch_ = 0;
    ep_loss_sum = ep_seconds = 0;
    ep_correct = ep_count = 0;
    last_epoch_end = e;
    have_epoch_end = true;
    // Hooks first: when a consumer sees epoch_end, the epoch's checkpoint is
    // already on disk.
    for (auto& cb : cbs) cb->on_epoch_end(*this, e);
    publish(e);
    maybe_snapshot(true);
    return true;
  }

  TrainEnd finish(EndReason reason, const std::string& message) {
    TrainEnd end;
    end.run_id = run_id_;
    end.reason = reason;
    end.message = message;
    end.epochs_completed = epoch_;
    end.steps = step_;
    end.best_valid_accuracy = best_valid_accuracy;
    if (have_epoch_end) {
      end.final_valid_accuracy = last_epoch_end.valid_accuracy;
      end.final_valid_loss = last_epoch_end.valid_loss;
    }
    end.seconds = seconds_since(t_start);
    if (model_ && (reason == EndReason::Done || reason == EndReason::Stopped) && !run_dir_.empty()) {
      try {
        std::string path = (fs::path(run_dir_) / "model.pmodel").string();
        save_model(path);
        end.model_path = path;
        if (store_) store_->add_artifact(run_id_, "model", path);
      } catch (const std::exception& ex) {
        end.message += (end.message.empty() ? "" : "; ") + std::string("saving the model failed: ") + ex.what();
      }
    }
    for (auto& cb : cbs) {
      try {
        cb->on_train_end(*this, end);
      } catch (const std::exception& ex) {
        publish(LogMessage{run_id_, "warning", std::string("callback failed at train end: ") + ex.what()});
      }
    }
    if (store_ && run_id_ > 0) {
      try {
        store_->finish_run(run_id_, status_for(reason), end.message);
      } catch (const std::exception& ex) {
        publish(LogMessage{run_id_, "warning", std::string("store: ") + ex.what()});
      }
    }
    return end;
  }

  // ---- entry points --------------------------------------------------------

  TrainEnd run_training(int64_t resume_run, const std::string& resume_db) {
    std::optional<Checkpoint> ckpt;
    std::string ckpt_path;
    try {
      resolve_device_and_threads();
      if (resume_run > 0) {
        // The store and checkpoint decide the config (except overrides
        // already merged into cfg by from_run).
        store_ = std::make_unique<ExperimentStore>(resume_db);
        run_id_ = resume_run;
        auto a = store_->latest_artifact(run_id_, "checkpoint");
        if (a) {
          if (!store_->verify_artifact(*a))
            throw InputError(a->path, "checkpoint is missing or does not match its recorded checksum");
          ckpt = load_checkpoint(a->path);
          ckpt_path = a->path;
        }
        store_->reopen_run(run_id_);
        resumed = true;
      }
      prepare_data_for_model(ckpt ? &*ckpt : nullptr);
      if (ckpt) restore_position(*ckpt);
      build_loaders();
      build_model(ckpt ? &*ckpt : nullptr, ckpt_path);
      build_phases();
      // '-' means no store, whether it comes from the config or from
      // $PERCEPTRA_DB (never a database file named '-').
      const std::string db = cfg.db_path.empty() ? ExperimentStore::default_path() : cfg.db_path;
      if (!resumed && db != "-") {
        store_ = std::make_unique<ExperimentStore>(db);
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
        NewRun nr;
        nr.name = cfg.run_name;
        nr.seed = cfg.seed;
        nr.dataset_id = store_->register_dataset(d);
        nr.model_spec = spec;
        nr.hparams = cfg.to_json();
        nr.machine = machine_metadata(device.is_cuda() ? backend_for(device).describe() : "none");
        run_id_ = store_->create_run(nr);
      }
      make_run_dir(resumed ? recorded_run_dir() : "");
      install_builtin_callbacks();
    } catch (const std::exception& e) {
      if (store_ && run_id_ > 0) {
        try {
          store_->finish_run(run_id_, RunStatus::Failed, e.what());
        } catch (const std::exception&) {
        }
      }
      TrainEnd end;
      end.run_id = run_id_;
      end.reason = EndReason::Error;
      end.message = e.what();
      return end;
    }

    try {
      TrainBegin tb;
      tb.run_id = run_id_;
      tb.run_dir = run_dir_;
      tb.device = device.str();
      tb.device_note = device_note;
      tb.backend = backend_for(device).describe();
      tb.model_name = spec.value("name", cfg.model.is_string() ? cfg.model.get<std::string>() : "custom");
      tb.parameters = model_->parameter_count();
      tb.dataset = data.source.name;
      tb.class_names = data.source.class_names;
      tb.train_size = static_cast<int64_t>(data.tv.train_indices.size());
      tb.valid_size = static_cast<int64_t>(data.tv.valid_indices.size());
      tb.epochs = cfg.epochs;
      tb.start_epoch = epoch_;
      tb.batches_per_epoch = bpe_;
      tb.batch_size = cfg.batch_size;
      tb.resumed = resumed;
      // Information, not a warning: the run proceeds as asked ("auto").
      if (!device_note.empty()) publish(LogMessage{run_id_, "info", device_note});
      publish(LogMessage{run_id_, "info", data.split_note});
      publish(tb);
      for (auto& cb : cbs) cb->on_train_begin(*this, tb);
      maybe_snapshot(true);
      while (epoch_ < cfg.epochs && !stop_req) {
        if (!train_epoch()) break;
        if (!end_epoch()) break;
      }
      return finish(stop_req ? stop_reason_ : EndReason::Done, stop_req ? stop_message : "");
    } catch (const std::exception& e) {
      return finish(EndReason::Error, e.what());
    }
  }

  TrainEnd run_lr_find(const LrFinderConfig& fc) {
    try {
      resolve_device_and_threads();
      cfg.db_path = "-";
      prepare_data_for_model(nullptr);
      build_loaders();
      build_model(nullptr, "");
      if (head_index >= 0) set_body_frozen(*model_, head_index, cfg.freeze_epochs > 0);
      LrFinder finder(fc);
      SoftmaxCrossEntropy loss(cfg.label_smoothing);
      int64_t epoch = 0;
      double ema_rate = 0;
      auto t_batch = Clock::now();
      while (!finder.done()) {
        train_loader->start_epoch(epoch++);
        Batch b;
        bool any = false;
        while (!finder.done() && train_loader->next(b)) {
          any = true;
          if (should_stop()) break;
          double lr = finder.next_lr();
          opt_->set_lr(static_cast<float>(lr));
          Tensor x = b.images.to(device), y = b.labels.to(device);
          double l = loss.forward(model_->forward(x, true), y);
          if (std::isfinite(l)) {
            model_->backward(loss.backward(), /*need_input_grad=*/false);
            opt_->step();
          }
          finder.record(l);
          double dt = seconds_since(t_batch);
          t_batch = Clock::now();
          double rate = dt > 0 ? b.labels.numel() / dt : 0;
          ema_rate = ema_rate == 0 ? rate : 0.9 * ema_rate + 0.1 * rate;
          publish(BatchEnd{0, 0, step_, step_, fc.num_iters, l, 0, lr, opt_->momentum(), ema_rate});
          ++step_;
        }
        if (stop_req || !any) break;
      }
      if (finder.iteration() > 0) {
        LrFinderResult r = finder.result();
        LrFindEnd e;
        for (auto& p : r.curve) {
          e.lrs.push_back(p.lr);
          e.losses.push_back(p.loss);
          e.smoothed.push_back(p.smoothed);
        }
        e.suggested_lr = r.suggested_lr;
        e.steepest_lr = r.steepest_lr;
        e.min_loss_lr = r.min_loss_lr;
        e.min_div10_lr = r.min_div10_lr;
        e.diverged = r.diverged;
        e.stop_reason = r.stop_reason;
        publish(e);
      }
      TrainEnd end;
      end.reason = stop_req ? stop_reason_ : EndReason::Done;
      end.message = stop_req ? stop_message : "";
      end.steps = step_;
      end.seconds = seconds_since(t_start);
      return end;
    } catch (const std::exception& e) {
      TrainEnd end;
      end.reason = EndReason::Error;
      end.message = e.what();
      return end;
    }
  }
};

// ---------------------------------------------------------------------------

Trainer::Trainer(TrainConfig config) : config_(std::move(config)) { config_.validate(); }

std::unique_ptr<Trainer> Trainer::from_run(int64_t run_id, const std::string& db_path,
                                           const ResumeOptions& options) {
  if (db_path == "-")
    throw InputError("run " + std::to_string(run_id), "cannot be resumed without a database ('-')");
  ExperimentStore store(db_path);
  RunRecord r = store.run(run_id);
  if (r.status == RunStatus::Running)
    throw InputError("run " + std::to_string(run_id),
                     "is still running (owned by pid " + std::to_string(r.owner_pid) + " on " +
                         r.owner_host + ")");
  if (r.status == RunStatus::Finished && !options.epochs)
    throw InputError("run " + std::to_string(run_id),
                     "already finished; pass more epochs to continue it");
  TrainConfig c = TrainConfig::from_json(r.hparams);
  c.db_path = db_path;
  if (options.epochs) c.epochs = *options.epochs;
  if (options.lr) c.optimizer.lr = *options.lr;
  if (!options.device.empty()) c.device = options.device;
  if (options.threads >= 0) c.threads = options.threads;
  auto t = std::make_unique<Trainer>(c);  // validates the overrides
  if (options.epochs || options.lr) store.update_hparams(run_id, c.to_json());
  t->resume_run_ = run_id;
  t->resume_db_ = db_path;
  return t;
}

Trainer::~Trainer() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void Trainer::add_callback(std::shared_ptr<Callback> callback) {
  PCHECK(!started_, "Trainer::add_callback: already started");
  callbacks_.push_back(std::move(callback));
}

void Trainer::set_snapshot_hook(const std::string& kind, int every_batches, SnapshotFn fn) {
  PCHECK(!started_, "Trainer::set_snapshot_hook: already started");
  snapshot_kind_ = kind;
  snapshot_every_ = every_batches;
  snapshot_fn_ = std::move(fn);
}

void Trainer::launch(std::function<void()> body) {
  PCHECK(!started_, "Trainer: already started");
  started_ = true;
  thread_ = std::thread([this, body = std::move(body)] {
    body();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_ = true;
    }
    cv_.notify_all();
  });
}

void Trainer::start() {
  launch([this] {
    Job job(*this, config_);
    job.cbs = callbacks_;
    if (config_.snapshot_every > 0 && snapshot_every_ == 0) snapshot_every_ = config_.snapshot_every;
    TrainEnd end = job.run_training(resume_run_, resume_db_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      result_ = end;
    }
    events_->push(end);
  });
}

void Trainer::start_lr_find(const LrFinderConfig& finder) {
  launch([this, finder] {
    Job job(*this, config_);
    TrainEnd end = job.run_lr_find(finder);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      result_ = end;
    }
    events_->push(end);
  });
}

void Trainer::pause() { pause_ = true; }

void Trainer::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pause_ = false;
  }
  cv_.notify_all();
}

void Trainer::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

void Trainer::wait() {
  if (thread_.joinable()) thread_.join();
}

bool Trainer::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_) return false;
  return cv_.wait_for(lock, timeout, [&] { return finished_.load(); });
}

std::optional<TrainEnd> Trainer::result() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return result_;
}

}  // namespace perceptra
