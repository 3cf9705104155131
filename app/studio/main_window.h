#pragma once
// The studio's main window: docks (Dataset, Model, Training, Inspect), the
// Live view and the Runs table as central tabs, menus and shortcuts, a
// command palette, persistent settings, and the wiring between the panels
// and the training session. Tests construct it with a temporary database
// and settings file and drive it like a user.
#include <QFutureWatcher>
#include <QMainWindow>
#include <QElapsedTimer>

#include <functional>
#include <memory>
#include <optional>

#include "core/train/events.h"
#include "core/train/setup.h"

class QAction;
class QLabel;
class QSettings;
class QSystemTrayIcon;
class QTabWidget;

namespace perceptra {
class Model;
struct LoadedModel;
}

namespace perceptra::studio {

class DatasetPanel;
class ModelPanel;
class TrainingPanel;
class LivePanel;
class InspectPanel;
class RunsPanel;
class TrainingSession;
class CommandPalette;

struct StudioOptions {
  QString dbPath;            // empty: ExperimentStore::default_path() ($PERCEPTRA_DB honoured)
  QString runsDir;           // empty: "runs" next to the database
  QString settingsFile;      // empty: the user's settings; tests pass a temporary .ini
  QString initialDataset;    // empty: the last one used, else the default
  bool restoreLayout = true;
  int snapshotEvery = 10;    // batches between live activation snapshots
};

// What a background job loading a run for inspection returns.
struct LoadedRun {
  std::shared_ptr<Model> model;
  std::shared_ptr<const PreparedData> data;
  QString title, modelPath, error;
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const StudioOptions& options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Starts training with the current form; false (with a message) when not possible.
  bool startTraining();
  void stopTraining();
  void togglePause();
  bool startLrFinder();
  // Exports the last trained (or opened) model; false with *error.
  bool exportNative(const QString& path, QString* error = nullptr);
  bool exportOnnx(const QString& path, QString* error = nullptr);
  // Loads a finished run's saved model and shows its confusion matrix and
  // misclassified images (asynchronously).
  void openRun(int64_t runId);
  bool resumeRun(int64_t runId);
  void showCommandPalette();
  void setThemeByName(const QString& name);

  // Demo: train briefly on the default dataset, select a misclassified
  // image, save a grab of the window to `path`, then quit.
  // `tab` picks the central view grabbed ("live" or "runs").
  void runDemo(const QString& screenshotPath, int epochs = 2, int maxBatches = 300,
               const QString& tab = QStringLiteral("live"));
  // Points the studio at another experiment database (remembered).
  void setDatabasePath(const QString& path);

  DatasetPanel* datasetPanel() const { return dataset_; }
  ModelPanel* modelPanel() const { return model_; }
  TrainingPanel* trainingPanel() const { return training_; }
  LivePanel* livePanel() const { return live_; }
  InspectPanel* inspectPanel() const { return inspect_; }
  RunsPanel* runsPanel() const { return runs_; }
  TrainingSession* session() const { return session_; }
  CommandPalette* commandPalette() const { return palette_; }
  QAction* action(const QString& objectName) const;
  QString databasePath() const { return dbPath_; }
  QString lastModelPath() const { return lastModelPath_; }
  int64_t currentRunId() const { return runId_; }
  std::optional<TrainEnd> lastEnd() const { return lastEnd_; }
  int epochsSeen() const { return epochsSeen_; }
  int64_t batchesSeen() const { return batchesSeen_; }

 signals:
  void trainingEnded();
  void demoFinished(bool ok);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void createActions();
  void createMenus();
  void createDocks();
  void connectSession();
  void updateActions();
  void loadSettings();
  void saveSettings();
  void onDatasetOpened();
  void onEpochModel(std::shared_ptr<Model> model, int epoch);
  void onTrainEnd(const TrainEnd& e, bool lrFind);
  void prepareInspectData(const TrainConfig& config);
  void notify(const QString& title, const QString& text);
  TrainConfig currentConfig() const;
  QString exportName(const QString& ext) const;
  bool exportModel(const std::function<QString(const LoadedModel&)>& write, QString* error);
  QAction* makeAction(const QString& name, const QString& text, const QKeySequence& key, const QString& tip);

  StudioOptions options_;
  QString dbPath_, runsDir_;
  std::unique_ptr<QSettings> settings_;
  TrainingSession* session_;
  DatasetPanel* dataset_;
  ModelPanel* model_;
  TrainingPanel* training_;
  LivePanel* live_;
  InspectPanel* inspect_;
  RunsPanel* runs_;
  QTabWidget* central_;
  CommandPalette* palette_;
  QSystemTrayIcon* tray_ = nullptr;
  QLabel* deviceLabel_;
  QLabel* runLabel_;

  QAction *trainAct_, *pauseAct_, *stopAct_, *lrFindAct_, *exportAct_, *onnxAct_;
  QList<QDockWidget*> docks_;

  // The validation data of the run being trained (for Inspect), prepared in
  // the background; an epoch's model waits for it when it comes first.
  QFutureWatcher<std::shared_ptr<const PreparedData>> prepareWatcher_;
  std::shared_ptr<const PreparedData> prepared_;
  std::shared_ptr<Model> pendingModel_;
  int pendingEpoch_ = 0;
  QFutureWatcher<LoadedRun> runWatcher_;

  int64_t probeIndex_ = 0;
  int64_t runId_ = 0;
  int epochsSeen_ = 0;
  int64_t batchesSeen_ = 0;
  int epochs_ = 0;
  QElapsedTimer runClock_;
  QString lastModelPath_;
  std::optional<TrainEnd> lastEnd_;
  bool closing_ = false;
};

}  // namespace perceptra::studio
