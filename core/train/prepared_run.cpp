#include "core/train/prepared_run.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/backend/backend.h"
#include "core/io/checkpoint.h"
#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/store/store.h"
#include "core/tensor/error.h"
#include "core/train/run_folder.h"
#include "core/train/run_recorder.h"
#include "core/train/transfer.h"

namespace perceptra {

PreparedRun::PreparedRun() = default;
PreparedRun::~PreparedRun() = default;

const Phase& PreparedRun::phase_for(int epoch) const {
  for (auto& p : phases)
    if (epoch >= p.first_epoch && epoch < p.end_epoch) return p;
  return phases.back();
}

nlohmann::json planned_model_spec(const TrainConfig& config, const Shape& input, int classes) {
  if (config.from_model.empty()) return resolve_model_spec(config.model, input, classes);
  nlohmann::json spec = inspect_model_file(config.from_model).spec;
  if (spec.value("classes", 0) != classes) {
    spec["layers"][head_layer_index(spec, config.from_model)]["out_features"] = classes;
    spec["classes"] = classes;
  }
  return spec;
}

int64_t batches_per_epoch(const TrainConfig& config, int64_t train_samples) {
  // As the training loader counts them (the last batch may be partial).
  int64_t bpe = (train_samples + config.batch_size - 1) / config.batch_size;
  if (config.max_batches > 0) bpe = std::min(bpe, config.max_batches);
  return bpe;
}

namespace {

// " at discriminative LRs: ..." as apply_lr_scales sets them.
std::string lr_spread_text(double lr_mult) {
  if (lr_mult <= 1) return " at one learning rate";
  char buf[160];
  std::snprintf(buf, sizeof buf, " at discriminative learning rates (first body layers lr/%g, middle lr/%g, head lr)",
                lr_mult, std::sqrt(lr_mult));
  return buf;
}

void resolve_device_and_threads(PreparedRun& r) {
  if (r.config.threads > 0) omp_set_num_threads(r.config.threads);
  r.device = resolve_device(DeviceRequest::parse(r.config.device), &r.device_note);
  // Every run sets it (the backend's setting outlives runs).
  Backend& be = backend_for(r.device);
  const Precision p = parse_precision(r.config.precision, "config");
  const std::string why = be.precision_unavailable(p);
  if (!why.empty()) throw InputError("config", "field 'precision': " + why);
  be.set_precision(p);
  // The CPU fallback note is for builds with CUDA where no device is
  // usable; a build without CUDA training on the CPU is the normal case.
  if (!probe_cuda().compiled) r.device_note.clear();
}

// The data, decoded for the model's input when a model file or checkpoint
// fixes it (image folders decode to that channel count and size). An
// already opened source is used when it fits.
void prepare_data_for(PreparedRun& r, const std::optional<Shape>& input, const PrepareOptions& options) {
  if (options.data) {
    r.data = options.data;
    return;
  }
  std::shared_ptr<const DataSource> opened = options.source;
  if (opened && input && opened->train->sample_shape() != *input) opened.reset();
  r.data = std::make_shared<const PreparedData>(prepare_data(r.config, input ? &*input : nullptr, opened));
}

Shape input_of(const nlohmann::json& spec) { return Shape(spec.at("input").get<std::vector<int64_t>>()); }

void build_phases(PreparedRun& r) {
  const TrainConfig& cfg = r.config;
  ScheduleConfig sc = cfg.schedule;
  if (cfg.fit == "one-cycle") sc.kind = "onecycle";
  std::vector<std::pair<int, int>> ranges;
  if (r.transfer() && cfg.freeze_epochs < cfg.epochs)
    ranges = {{0, cfg.freeze_epochs}, {cfg.freeze_epochs, cfg.epochs}};
  else
    ranges = {{0, cfg.epochs}};
  r.phases.clear();
  for (auto [a, b] : ranges) {
    Phase p;
    p.first_epoch = a;
    p.end_epoch = b;
    p.first_step = a * r.batches_per_epoch;
    p.schedule = make_schedule(sc, cfg.optimizer.lr, cfg.optimizer.momentum, (b - a) * r.batches_per_epoch);
    r.phases.push_back(std::move(p));
  }
}

// Builds the model from scratch, from a model file (transfer) or from a
// checkpoint (resume), then its optimizer.
void build_model(PreparedRun& r, const Checkpoint* ckpt, const std::string& ckpt_path) {
  const TrainConfig& cfg = r.config;
  Shape input = r.data->tv.train_data->sample_shape();
  int classes = static_cast<int>(r.data->source.class_names.size());
  Rng rng(cfg.seed);
  if (ckpt) {
    r.head_index = ckpt->state.trainer.value("head_index", -1);
    r.model = perceptra::build_model(*ckpt, r.device);
    if (r.model->input_shape() != input || r.model->num_classes() != classes)
      throw InputError(ckpt_path, "checkpoint model (input " + r.model->input_shape().str() + ", " +
                                      std::to_string(r.model->num_classes()) + " classes) does not fit the data");
  } else if (!cfg.from_model.empty()) {
    LoadedModel loaded = load_model(cfg.from_model, r.device);
    r.model = adapt_for_transfer(loaded, input, classes, rng, cfg.from_model);
    r.head_index = head_layer_index(r.model->spec(), cfg.from_model);
  } else {
    nlohmann::json s = resolve_model_spec(cfg.model, input, classes);
    try {
      r.model = Model::from_spec(s, rng, r.device);
    } catch (const InputError& e) {
      // "layer 0 (conv2d): unknown field ..." says what but not where.
      std::string file = model_spec_file(cfg.model);
      if (file.empty()) throw;
      throw InputError(file, e.what());
    }
  }
  r.model->to(r.device);
  r.spec = r.model->spec();
  if (r.head_index >= 0) assign_transfer_groups(*r.model, r.head_index);
  r.optimizer = make_optimizer(cfg.optimizer, r.model->parameters());
  if (r.head_index >= 0) apply_lr_scales(*r.optimizer, cfg.lr_mult);
  if (ckpt) restore_checkpoint(*ckpt, *r.model, r.optimizer.get(), ckpt_path);
}

RunPosition position_of(const Checkpoint& c) {
  const auto& m = c.state.trainer;
  RunPosition p;
  p.epoch = static_cast<int>(c.state.epoch);
  p.step = c.state.step;
  p.batch = m.at("batch").get<int64_t>();
  const auto& s = m.at("epoch_sums");
  p.loss_sum = s.at("loss_sum").get<double>();
  p.correct = s.at("correct").get<int64_t>();
  p.count = s.at("count").get<int64_t>();
  p.seconds = s.at("seconds").get<double>();
  const auto& b = m.at("best");
  p.have_best = b.at("have").get<bool>();
  p.best_value = b.at("value").get<double>();
  p.best_valid_accuracy = b.at("valid_accuracy").get<double>();
  p.bad_epochs = b.at("bad_epochs").get<int>();
  return p;
}

// Everything after the data: model, optimizer, position, phases.
void build_training(PreparedRun& r, const Checkpoint* ckpt, const std::string& ckpt_path) {
  if (ckpt) {
    r.position = position_of(*ckpt);
    // The statistics the weights were trained with (recomputing them gives
    // the same numbers, but the file is the authority).
    if (!ckpt->meta.mean.empty()) {
      auto data = std::make_shared<PreparedData>(*r.data);
      data->tv.norm.mean = ckpt->meta.mean;
      data->tv.norm.std = ckpt->meta.std;
      r.data = std::move(data);
    }
  }
  r.batches_per_epoch = batches_per_epoch(r.config, static_cast<int64_t>(r.data->tv.train_indices.size()));
  build_model(r, ckpt, ckpt_path);
  build_phases(r);
}

std::string device_description(const Device& d) { return d.is_cuda() ? backend_for(d).describe() : "none"; }

// The spec the run will build, known before building it: a fresh spec for
// the data, a model file's spec with its head resized, or a checkpoint's.
std::optional<nlohmann::json> planned_spec(const PreparedRun& r, const nlohmann::json* stored) {
  const Shape input = r.data->tv.train_data->sample_shape();
  const int classes = static_cast<int>(r.data->source.class_names.size());
  try {
    if (stored) return *stored;
    return planned_model_spec(r.config, input, classes);
  } catch (const std::exception&) {
    return std::nullopt;  // building the model reports it, naming the file
  }
}

// Estimates the run's cost and refuses it when it cannot fit (before a
// single weight is allocated).
void guard_cost(PreparedRun& r, const nlohmann::json* stored, const PrepareOptions& options) {
  std::optional<nlohmann::json> spec = planned_spec(r, stored);
  if (!spec) return;
  CostRequest q;
  try {
    q = cost_request(r.config, *spec, *r.data);
    q.cuda = r.device.is_cuda();
    r.cost = estimate_cost(q);
  } catch (const InputError&) {
    return;  // a spec that does not fit together: build_model says where
  }
  r.notes.push_back({"info", "cost estimate: " + r.cost->summary()});
  r.inference_batch = safe_inference_batch(*r.cost, q.inference_batch);
  if (r.inference_batch < q.inference_batch)
    r.notes.push_back({"info", "validation runs in batches of " + std::to_string(r.inference_batch) + " (not " +
                                   std::to_string(q.inference_batch) + ") so that it fits in memory"});
  if (r.cost->verdict == CostVerdict::Large)
    r.notes.push_back({"warning", "this run needs about " + bytes_text(r.cost->peak_train_bytes) + " of the " +
                                      bytes_text(r.cost->limit.bytes) + " of memory available"});
  if (options.estimate_only) return;
  enforce_cost(*r.cost, options.force);
  if (r.cost->verdict == CostVerdict::TooLarge)
    r.notes.push_back({"warning", "forced past the memory guard: " + r.cost->refusal()});
}

// What the data and the model file decided for the user.
void note_data(PreparedRun& r, const std::optional<Shape>& fixed_input) {
  const DataSource& src = r.data->source;
  for (const auto& w : src.warnings) r.notes.push_back({"warning", src.name + ": " + w});
  if (src.class_names.size() == 1)
    r.notes.push_back({"warning", "the dataset " + src.name + " has one class ('" + src.class_names[0] +
                                      "'): accuracy is 100 % and the loss 0 whatever the model learns; "
                                      "a classifier needs at least two classes"});
  if (fixed_input && src.format == "image-folder") {
    const Shape& s = *fixed_input;
    std::string what =
        "the images of " + src.name + " are decoded to " + s.str() + ", the input of " + r.config.from_model;
    if (s.rank() == 3 && s[0] == 1) what += " (colour converted to grey)";
    if (r.config.image_size != "auto") what += "; --image-size " + r.config.image_size + " is ignored";
    r.notes.push_back({"warning", what});
  }
}

// What transfer learning changed in the model.
void note_transfer(PreparedRun& r, int old_classes) {
  if (r.config.from_model.empty() || r.head_index < 0) return;
  const std::string head = r.model->layers()[static_cast<size_t>(r.head_index)]->name();
  const int classes = static_cast<int>(r.data->source.class_names.size());
  if (old_classes != classes)
    r.notes.push_back({"warning", "the head (" + head + ", " + std::to_string(old_classes) + " outputs) of " +
                                      r.config.from_model + " is replaced by a new one with " +
                                      std::to_string(classes) + " outputs, freshly initialised"});
  if (r.transfer())
    r.notes.push_back(
        {"info", "the body is frozen for the first " + std::to_string(r.config.freeze_epochs) +
                     " epoch(s) (only the head and BatchNorm train), then everything trains" +
                     (r.config.freeze_epochs >= r.config.epochs ? std::string(" (never: the run is that short)")
                                                                : lr_spread_text(r.config.lr_mult))});
}

}  // namespace

std::shared_ptr<PreparedRun> prepare_run(const TrainConfig& config, const PrepareOptions& options) {
  config.validate();
  auto r = std::make_shared<PreparedRun>();
  r->config = config;
  resolve_device_and_threads(*r);
  std::optional<Shape> input;
  if (options.checkpoint) {
    input = input_of(options.checkpoint->spec);
    r->resumed = true;
  } else if (!config.from_model.empty()) {
    input = input_of(inspect_model_file(config.from_model).spec);
  }
  prepare_data_for(*r, input, options);
  note_data(*r, input);
  guard_cost(*r, options.checkpoint ? &options.checkpoint->spec : nullptr, options);
  if (options.estimate_only) return r;
  int old_classes = 0;
  if (!options.checkpoint && !config.from_model.empty())
    old_classes = inspect_model_file(config.from_model).spec.value("classes", 0);
  build_training(*r, options.checkpoint, options.checkpoint ? options.checkpoint_name : "");
  if (!options.checkpoint) note_transfer(*r, old_classes);
  if (!options.record) return r;
  // '-' means no store, whether it comes from the config or from
  // $PERCEPTRA_DB (never a database file named '-').
  const std::string db = config.db_path.empty() ? ExperimentStore::default_path() : config.db_path;
  if (db != "-") {
    r->recorder = RunRecorder::create(db, r->config, *r->data, r->spec, device_description(r->device));
    r->run_id = r->recorder->run_id();
  }
  try {
    r->run_dir = make_run_dir(config.out_dir, r->run_id);
  } catch (const std::exception& e) {
    if (r->recorder) r->recorder->fail(e.what());
    throw;
  }
  return r;
}

ResumeRequest resume_request(int64_t run_id, const std::string& db_path, const ResumeOptions& options) {
  const std::string what = "run " + std::to_string(run_id);
  if (db_path == "-") throw InputError(what, "cannot be resumed without a database ('-')");
  ExperimentStore store(db_path);
  RunRecord r = store.run(run_id);
  if (r.status == RunStatus::Running)
    throw InputError(what,
                     "is still running (owned by pid " + std::to_string(r.owner_pid) + " on " + r.owner_host + ")");
  if (r.status == RunStatus::Finished && !options.epochs)
    throw InputError(what, "already finished; pass more epochs to continue it");
  ResumeRequest q;
  q.run_id = run_id;
  q.db_path = db_path;
  q.config = TrainConfig::from_json(r.hparams);
  // Commands run only from the command line or the studio's settings, never
  // from stored configuration (the database is a file anyone can edit).
  q.config.notify.command.clear();
  q.config.db_path = db_path;
  if (options.epochs) q.config.epochs = *options.epochs;
  if (options.lr) q.config.optimizer.lr = *options.lr;
  if (!options.device.empty()) q.config.device = options.device;
  if (options.threads >= 0) q.config.threads = options.threads;
  q.config.validate();
  q.hparams_changed = options.epochs || options.lr;
  return q;
}

std::shared_ptr<PreparedRun> prepare_resume(const ResumeRequest& q, const PrepareOptions& options) {
  auto r = std::make_shared<PreparedRun>();
  r->config = q.config;
  r->resumed = true;
  // The store and checkpoint decide the config (the overrides are merged).
  const nlohmann::json hparams = q.config.to_json();
  r->recorder = RunRecorder::reopen(q.db_path, q.run_id, q.hparams_changed ? &hparams : nullptr);
  r->run_id = q.run_id;
  try {
    resolve_device_and_threads(*r);
    std::optional<Checkpoint> ckpt;
    std::optional<std::string> ckpt_path = r->recorder->latest_checkpoint();
    if (ckpt_path) ckpt = load_checkpoint(*ckpt_path);
    r->checkpoint_path = ckpt_path.value_or("");
    std::optional<Shape> input;
    if (ckpt) input = input_of(ckpt->spec);
    prepare_data_for(*r, input, {});
    note_data(*r, std::nullopt);
    PrepareOptions guard;
    guard.force = options.force;
    guard_cost(*r, ckpt ? &ckpt->spec : nullptr, guard);
    build_training(*r, ckpt ? &*ckpt : nullptr, ckpt_path.value_or(""));
    r->run_dir = make_run_dir(q.config.out_dir, r->run_id, r->recorder->recorded_run_dir());
  } catch (const std::exception& e) {
    r->recorder->fail(e.what());
    throw;
  }
  return r;
}

}  // namespace perceptra
