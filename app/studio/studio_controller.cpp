#include "app/studio/studio_controller.h"

#include <QtConcurrent/QtConcurrent>

#include "app/studio/training_session.h"
#include "core/io/model_file.h"
#include "core/io/onnx_export.h"
#include "core/nn/model.h"
#include "core/store/store.h"
#include "core/train/prepared_run.h"
#include "core/train/recorded_run.h"
#include "core/train/setup.h"

namespace perceptra::studio {

namespace {

LoadedRun loadRunBlocking(int64_t id, const std::string& db) {
  LoadedRun r;
  r.id = id;
  try {
    RecordedRun rec = open_recorded_run(db, id);
    r.model = rec.model;
    r.data = rec.data;
    r.config = TrainConfig::from_json(rec.run.hparams);
    r.history = load_run_history(db, id);
    r.modelPath = QString::fromStdString(rec.model_path);
    r.title = QStringLiteral("run %1 (%2)").arg(id).arg(QString::fromStdString(to_string(rec.run.status)));
  } catch (const std::exception& e) {
    r.error = QString::fromStdString(e.what());
  }
  return r;
}

}  // namespace

StudioController::StudioController(QObject* parent) : QObject(parent), session_(new TrainingSession(this)) {
  connect(session_, &TrainingSession::prepared, this, [this](std::shared_ptr<const PreparedData> data) {
    runData_ = data;
    emit runPrepared(runData_);
    // Before the trainer starts: the continuation's events append to it.
    if (resumeHistory_) {
      auto h = std::move(resumeHistory_);
      emit historyLoaded(*h);
    }
  });
  connect(&runWatcher_, &QFutureWatcher<LoadedRun>::finished, this, [this] {
    LoadedRun r = runWatcher_.result();
    if (r.error.isEmpty()) setLastModelPath(r.modelPath);
    emit runLoaded(r);
  });
}

StudioController::~StudioController() {
  session_->stopAndWait();
  runWatcher_.waitForFinished();
}

QString StudioController::defaultDatabasePath(bool honourEnv) {
  QString db = QString::fromStdString(ExperimentStore::default_path(honourEnv));
  return db == QLatin1String("-") ? QString::fromStdString(ExperimentStore::default_path(false)) : db;
}

void StudioController::setWorkspace(const QString& dbPath, const QString& runsDir) {
  dbPath_ = dbPath;
  runsDir_ = runsDir;
}

bool StudioController::setDatabasePath(const QString& path, QString* error) {
  try {
    ExperimentStore probe(path.toStdString());  // creates or validates it
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
  dbPath_ = path;
  return true;
}

bool StudioController::startTraining(TrainConfig config, std::shared_ptr<const DataSource> opened, QString* error) {
  config.db_path = dbPath_.toStdString();
  config.out_dir = runsDir_.toStdString();
  try {
    config.validate();
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
  runData_.reset();
  return session_->start(
      TrainingSession::Mode::Training, config,
      [config, opened] {
        PrepareOptions po;
        po.source = opened;
        return prepare_run(config, po);
      },
      error);
}

bool StudioController::startLrFinder(TrainConfig config, std::shared_ptr<const DataSource> opened, QString* error) {
  try {
    config.validate();
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
  return session_->start(
      TrainingSession::Mode::LrFind, config,
      [config, opened] {
        PrepareOptions po;
        po.record = false;  // a range test is not a run: no store row, no files
        po.source = opened;
        return prepare_run(config, po);
      },
      error);
}

bool StudioController::resumeRun(int64_t runId, QString* error) {
  if (session_->active()) {
    if (error) *error = tr("A run is already in progress.");
    return false;
  }
  ResumeRequest request;
  try {
    request = resume_request(runId, dbPath_.toStdString());
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
  runData_.reset();
  auto history = std::make_shared<RunHistory>();
  resumeHistory_ = history;
  return session_->start(
      TrainingSession::Mode::Training, request.config,
      [request, history] {
        auto run = prepare_resume(request);
        try {
          // What was recorded before the checkpoint it continues from.
          *history = load_run_history(request.db_path, request.run_id, run->position.step);
        } catch (const std::exception&) {
          history->batches.clear();  // curves are a view: the run still trains
          history->epochs.clear();
        }
        return run;
      },
      error);
}

void StudioController::stopAndWait() { session_->stopAndWait(); }

std::optional<CostEstimate> StudioController::estimate(const TrainConfig& config, const DataSource& opened,
                                                       QString* error) const {
  try {
    const Shape input = opened.train->sample_shape();
    const int classes = int(opened.class_names.size());
    CostRequest q;
    q.spec = planned_model_spec(config, input, classes);  // a start model's own spec
    q.batch_size = config.batch_size;
    q.inference_batch = std::max(config.batch_size, 256);
    q.optimizer = config.optimizer.kind;
    const int64_t n = opened.train->size();
    const double pct = config.valid_pct.value_or(opened.test ? 0.0 : 20.0);
    q.valid_images = opened.test && !config.valid_pct ? opened.test->size() : int64_t(double(n) * pct / 100.0);
    q.train_images = opened.test && !config.valid_pct ? n : n - q.valid_images;
    q.dataset_growth_bytes = dataset_growth_bytes(opened);
    return estimate_cost(q);
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return std::nullopt;
  }
}

int StudioController::inferenceBatch(Model& model, const PreparedData& data, QString* refusal) const {
  CostRequest q;
  q.spec = model.spec();
  q.batch_size = 1;
  q.inference_batch = 256;
  q.valid_images = int64_t(data.tv.valid_indices.size());
  q.prefetch = 0;  // predictions build their batches in place
  const CostEstimate e = estimate_cost(q);
  const int b = safe_inference_batch(e, 256);
  CostRequest one = q;
  one.inference_batch = 1;
  const CostEstimate single = estimate_cost(one);
  if (single.infer_verdict == CostVerdict::TooLarge) {
    if (refusal)
      *refusal =
          tr("Predicting with this model needs about %1 for a single image, more than the %2 available (%3).")
              .arg(QString::fromStdString(bytes_text(single.peak_infer_bytes)),
                   QString::fromStdString(bytes_text(single.limit.bytes)), QString::fromStdString(single.limit.source));
    return 0;
  }
  return b;
}

bool StudioController::openRun(int64_t runId) {
  if (runWatcher_.isRunning()) return false;
  const std::string db = dbPath_.toStdString();
  runWatcher_.setFuture(QtConcurrent::run([runId, db] { return loadRunBlocking(runId, db); }));
  return true;
}

std::shared_ptr<Model> StudioController::loadModel(const QString& path) const {
  try {
    LoadedModel m = load_model(path.toStdString());
    return std::shared_ptr<Model>(m.model.release());
  } catch (const std::exception&) {
    return nullptr;
  }
}

void StudioController::setLastModelPath(const QString& path) {
  if (path == lastModelPath_) return;
  lastModelPath_ = path;
  emit lastModelChanged(path);
}

bool StudioController::exportNative(const QString& path, QString* error, QString* message) {
  if (lastModelPath_.isEmpty()) {
    if (error) *error = tr("Train a model (or open a run) first.");
    return false;
  }
  try {
    const LoadedModel m = load_model(lastModelPath_.toStdString());
    save_model(path.toStdString(), *m.model, m.meta);
    load_model(path.toStdString());  // proves the written file reads back
    if (message) *message = tr("Exported %1").arg(path);
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

bool StudioController::exportOnnx(const QString& path, QString* error, QString* message) {
  if (lastModelPath_.isEmpty()) {
    if (error) *error = tr("Train a model (or open a run) first.");
    return false;
  }
  try {
    const LoadedModel m = load_model(lastModelPath_.toStdString());
    export_onnx(path.toStdString(), *m.model, m.meta);  // runs onnx::checker before writing
    if (message) *message = tr("Exported %1 (validated by the ONNX checker)").arg(path);
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

}  // namespace perceptra::studio
