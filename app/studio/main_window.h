#pragma once
// The studio's main window: docks (Dataset, Model, Training, Inspect), the
// Live view and the Runs table as central tabs, menus and shortcuts, a
// command palette, persistent settings, and the wiring between the panels
// and the StudioController (which owns the runs, the training session, run
// loading and export). Tests construct it with a temporary database and
// settings file and drive it like a user.
//
// main_window.cpp: layout and wiring; main_window_chrome.cpp: actions,
// menus, toolbar, themes, settings; studio_demo.cpp: the scripted demo.
#include <QMainWindow>
#include <QElapsedTimer>

#include <functional>
#include <memory>
#include <optional>
#include <set>

#include "core/train/config.h"
#include "core/train/events.h"

class QAction;
class QDialog;
class QLabel;
class QSettings;
class QSystemTrayIcon;
class QTabWidget;
class QTimer;

namespace perceptra {
class Model;
struct PreparedData;
}  // namespace perceptra

namespace perceptra::studio {

class DatasetPanel;
class ModelPanel;
class TrainingPanel;
class LivePanel;
class InspectPanel;
class RunsPanel;
class SweepsPanel;
class TrainingSession;
class StudioController;
class CommandPalette;
class CurrentRun;
class ProblemsPanel;
class Int8ExportDialog;
struct LoadedRun;

struct StudioOptions {
  QString dbPath;          // empty: ExperimentStore::default_path() ($PERCEPTRA_DB honoured)
  QString runsDir;         // empty: "runs" next to the database
  QString settingsFile;    // empty: the user's settings; tests pass a temporary .ini
  QString initialDataset;  // empty: the last one used, else the default
  bool restoreLayout = true;
  int snapshotEvery = 10;  // batches between live activation snapshots
};

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(const StudioOptions& options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Starts training with the current form; false (with a message) when not possible.
  bool startTraining();
  // Starts training with `config` (e.g. currentConfig() with from_model set).
  bool startTraining(const TrainConfig& config);
  // The form as a run configuration (data, split, model, hyper-parameters).
  TrainConfig currentConfig() const;
  // A live, read-only view of run `runId` of the store at `db` (another
  // process's: the CLI, rank 0 of an mpirun job); runId 0: its newest
  // running run, else its newest. Null (and a status message) when the
  // store cannot be read or has no runs.
  QDialog* watchRunIn(const QString& db, qint64 runId = 0);
  void stopTraining();
  void togglePause();
  bool startLrFinder();
  // Exports the last trained (or opened) model; false with *error.
  bool exportNative(const QString& path, QString* error = nullptr);
  bool exportOnnx(const QString& path, QString* error = nullptr);
  // Export > int8 (quantised): opens the dialog for the last model (null
  // when there is none); it calibrates on the open dataset.
  Int8ExportDialog* openInt8Export();
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

  // Refreshes the cost estimate of the form's run in the Model and Training
  // docks (also done, debounced, when the dataset, model or batch changes).
  void updateEstimate();
  // How the window asks a yes/no question (a large run); tests replace it.
  using Ask = std::function<bool(const QString& title, const QString& text)>;
  void setAskHandler(Ask ask) { ask_ = std::move(ask); }
  // Help windows (also the Help menu's actions); they stay open, non-modal.
  QWidget* showShortcutSheet();
  QWidget* showGettingStarted();
  QWidget* showReadme();
  QWidget* showAbout();
  // Records a warning or error in the Problems panel (and the status bar).
  void reportProblem(const QString& level, const QString& source, const QString& text);

  DatasetPanel* datasetPanel() const { return dataset_; }
  ModelPanel* modelPanel() const { return model_; }
  TrainingPanel* trainingPanel() const { return training_; }
  LivePanel* livePanel() const { return live_; }
  InspectPanel* inspectPanel() const { return inspect_; }
  RunsPanel* runsPanel() const { return runs_; }
  SweepsPanel* sweepsPanel() const { return sweeps_; }
  ProblemsPanel* problemsPanel() const { return problems_; }
  CurrentRun* currentRun() const { return current_; }
  TrainingSession* session() const;
  StudioController* controller() const { return controller_; }
  CommandPalette* commandPalette() const { return palette_; }
  QAction* action(const QString& objectName) const;
  QString databasePath() const;
  QString lastModelPath() const;
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
  void connectPanels();
  void connectSession();
  void createSweeps();  // main_window_sweeps.cpp: the Sweeps tab and its actions
  void updateActions();
  void loadSettings();
  void saveSettings();
  void onDatasetOpened();
  void onRunLoaded(const LoadedRun& r);
  void onTrainEnd(const TrainEnd& e, bool lrFind);
  void beginRunViews(const QStringList& classes, const QString& inspectMessage);
  // The memory guard before a run or LR sweep starts: false (refused, or
  // the user declined a large run) stops it.
  bool passesCostGuard(const TrainConfig& config, const QString& what);
  void showRefusal(const QString& title, const QString& text);
  void inspectModel(std::shared_ptr<Model> model, std::shared_ptr<const PreparedData> data, const QString& title);
  void connectCurrentRun();
  void createHelpMenu();
  void notify(const QString& title, const QString& text);
  QString exportName(const QString& ext) const;
  QAction* makeAction(const QString& name, const QString& text, const QKeySequence& key, const QString& tip);

  StudioOptions options_;
  std::unique_ptr<QSettings> settings_;
  StudioController* controller_;
  TrainingSession* session_;
  DatasetPanel* dataset_;
  ModelPanel* model_;
  TrainingPanel* training_;
  LivePanel* live_;
  InspectPanel* inspect_;
  RunsPanel* runs_;
  SweepsPanel* sweeps_ = nullptr;
  ProblemsPanel* problems_;
  CurrentRun* current_;
  QTabWidget* central_;
  CommandPalette* palette_;
  QSystemTrayIcon* tray_ = nullptr;
  QLabel* deviceLabel_;
  QLabel* runLabel_;

  QAction *trainAct_, *pauseAct_, *stopAct_, *lrFindAct_, *exportAct_, *onnxAct_, *int8Act_;
  QList<QDockWidget*> docks_;

  int64_t probeIndex_ = 0;
  int64_t runId_ = 0;
  int epochsSeen_ = 0;
  int64_t batchesSeen_ = 0;
  int epochs_ = 0;
  QElapsedTimer runClock_;    // since Train was pressed (notifications)
  QElapsedTimer trainClock_;  // since the run began training (its measured rate)
  QTimer* costTimer_ = nullptr;
  std::set<std::string> agreedLarge_;  // large runs the user said yes to (asked once)
  Ask ask_;
  std::optional<TrainEnd> lastEnd_;
  bool closing_ = false;
};

}  // namespace perceptra::studio
