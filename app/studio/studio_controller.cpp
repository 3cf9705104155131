#include "app/studio/studio_controller.h"

#include <QtConcurrent/QtConcurrent>

#include "app/studio/training_session.h"
#include "core/io/model_file.h"
#include "core/io/onnx_export.h"
#include "core/nn/model.h"
#include "core/store/store.h"
#include "core/train/prepared_run.h"
#include "core/train/recorded_run.h"

namespace perceptra::studio {

namespace {

LoadedRun loadRunBlocking(int64_t id, const std::string& db) {
  LoadedRun r;
  try {
    RecordedRun rec = open_recorded_run(db, id);
    r.model = rec.model;
    r.data = rec.data;
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
  return session_->start(TrainingSession::Mode::Training, config, [config, opened] {
    PrepareOptions po;
    po.source = opened;
    return prepare_run(config, po);
  }, error);
}

bool StudioController::startLrFinder(TrainConfig config, std::shared_ptr<const DataSource> opened, QString* error) {
  try {
    config.validate();
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
  return session_->start(TrainingSession::Mode::LrFind, config, [config, opened] {
    PrepareOptions po;
    po.record = false;  // a range test is not a run: no store row, no files
    po.source = opened;
    return prepare_run(config, po);
  }, error);
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
  return session_->start(TrainingSession::Mode::Training, request.config,
                         [request] { return prepare_resume(request); }, error);
}

void StudioController::stopAndWait() { session_->stopAndWait(); }

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
