#pragma once
// The studio's engine side, on the UI thread: it owns the workspace (the
// experiment database and the runs folder), the training session, the run
// being trained (prepared once, off the UI thread, by prepare_run: the same
// data and split the trainer uses are what Inspect shows), loading recorded
// runs for a second look, and exporting the last model. MainWindow lays out
// the panels and wires them to it; it never opens data, models or the store
// itself.
#include <QFutureWatcher>
#include <QObject>
#include <QString>

#include <memory>
#include <optional>

#include "core/train/config.h"
#include "core/train/cost_estimate.h"
#include "core/train/run_history.h"

namespace perceptra {
class Model;
struct DataSource;
struct PreparedData;
}  // namespace perceptra

namespace perceptra::studio {

class TrainingSession;

// A recorded run loaded in the background (openRun): everything the views
// show of it, loaded together.
struct LoadedRun {
  int64_t id = 0;
  std::shared_ptr<Model> model;
  std::shared_ptr<const PreparedData> data;
  TrainConfig config;  // its recorded hyper-parameters
  RunHistory history;  // its curves
  QString title, modelPath, error;
};

class StudioController : public QObject {
  Q_OBJECT
 public:
  explicit StudioController(QObject* parent = nullptr);
  ~StudioController() override;

  TrainingSession* session() const { return session_; }

  // The workspace: the database and where run folders go. setWorkspace
  // takes them as they are (the store opens them when a run starts);
  // setDatabasePath creates or validates the database first (false with
  // *error).
  void setWorkspace(const QString& dbPath, const QString& runsDir);
  // The default database ($PERCEPTRA_DB honoured when asked; the studio
  // always keeps its runs, so '-' there means the default file).
  static QString defaultDatabasePath(bool honourEnv);
  bool setDatabasePath(const QString& path, QString* error);
  QString databasePath() const { return dbPath_; }
  void setRunsDir(const QString& dir) { runsDir_ = dir; }
  QString runsDir() const { return runsDir_; }

  // Starts a run of `config` (its db_path and out_dir set to the workspace):
  // prepared off the UI thread, then trained. `opened`, the Dataset dock's
  // source of config.data, is split instead of opening the data again when
  // it fits the model. False with *error when the config is invalid or a
  // run is active.
  bool startTraining(TrainConfig config, std::shared_ptr<const DataSource> opened, QString* error);
  // The LR range test of `config` (nothing recorded).
  bool startLrFinder(TrainConfig config, std::shared_ptr<const DataSource> opened, QString* error);
  // Continues a recorded run from its last checkpoint; false with *error
  // when it cannot (unknown, still running, finished).
  bool resumeRun(int64_t runId, QString* error);
  void stopAndWait();

  // The cost of training `config` on `opened` (the Dataset dock's data,
  // which gives the input shape and classes): computed on the caller's
  // thread (shapes only, no weights). Empty with *error when the model spec
  // does not fit the data.
  std::optional<CostEstimate> estimate(const TrainConfig& config, const DataSource& opened,
                                       QString* error = nullptr) const;
  // The batch an inference pass of `model` over data's validation side may
  // use without exceeding the memory guard (<= 256); 0 with *refusal when
  // not even one image fits.
  int inferenceBatch(Model& model, const PreparedData& data, QString* refusal = nullptr) const;

  // The data of the run being (or last) trained: the trainer's own split.
  std::shared_ptr<const PreparedData> runData() const { return runData_; }

  // Loads a recorded run's saved model and data in the background; emits
  // runLoaded (error set on failure). False when a load is in progress.
  bool openRun(int64_t runId);
  // A model file for Inspect (null when it cannot be read).
  std::shared_ptr<Model> loadModel(const QString& path) const;

  // The last trained (or opened) model, exported; false with *error. On
  // success *message says what was written.
  QString lastModelPath() const { return lastModelPath_; }
  void setLastModelPath(const QString& path);
  bool exportNative(const QString& path, QString* error, QString* message = nullptr);
  bool exportOnnx(const QString& path, QString* error, QString* message = nullptr);

 signals:
  // The run is prepared: its data (split, normalisation) is what it trains on.
  void runPrepared(std::shared_ptr<const perceptra::PreparedData> data);
  void runLoaded(const perceptra::studio::LoadedRun& run);
  // A resumed run's recorded curves, up to its checkpoint: emitted after
  // preparation and before its first live event.
  void historyLoaded(const perceptra::RunHistory& history);
  void lastModelChanged(const QString& path);

 private:
  TrainingSession* session_;
  QString dbPath_, runsDir_, lastModelPath_;
  std::shared_ptr<const PreparedData> runData_;
  QFutureWatcher<LoadedRun> runWatcher_;
  // Filled by the resume's preparation (worker thread), read on `prepared`.
  std::shared_ptr<RunHistory> resumeHistory_;
};

}  // namespace perceptra::studio
