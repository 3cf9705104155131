#pragma once
// Sweeps: the store's hyper-parameter sweeps, each sweep's trials as a
// sortable table (hyper-parameters, state, score, early termination) next
// to a parallel-coordinates plot of the parameters against the metric.
// Clicking a line selects its trial; the best trial is highlighted and
// opened with one click. A sweep can be launched from a spec file (run on a
// worker thread, K trials at a time) and is watched while it runs, as is
// any running sweep in the store (another process, another machine writing
// the same database): the panel only reads the store.
#include <QFutureWatcher>
#include <QWidget>

#include <atomic>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/sweep/runner.h"

class QLabel;
class QPushButton;
class QSortFilterProxyModel;
class QSpinBox;
class QStandardItemModel;
class QTableView;
class QTimer;

namespace perceptra::widgets {
class ParallelCoordinates;
class TrainingPlot;
}  // namespace perceptra::widgets

namespace perceptra::studio {

class SweepTrialsModel;

class SweepsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit SweepsPanel(QWidget* parent = nullptr);
  ~SweepsPanel() override;  // stops a sweep launched here and waits for it

  void setDatabasePath(const std::string& path);
  // Where trial runs write their folders (the studio's runs folder); empty:
  // the spec's base out_dir.
  void setRunsDir(const std::string& dir) { runsDir_ = dir; }
  const std::string& databasePath() const { return db_; }

  int sweepCount() const;
  qint64 currentSweep() const { return current_; }
  void selectSweep(qint64 id);
  // Starts the sweep in `spec_path` (JSON, as `perceptra-cli sweep`) with
  // `parallel` trials at once; false (and a message) when the file is bad or
  // a sweep launched here is still running.
  bool startSweep(const QString& spec_path, int parallel);
  // The same from a spec already in memory (the New sweep dialog).
  bool startSweep(const nlohmann::json& spec, int parallel, const QString& origin);
  bool sweepRunning() const;
  void stopSweep();
  // Re-reading the store while a sweep runs (here or elsewhere).
  bool isWatching() const;
  void setWatchInterval(int ms);

  QTableView* sweepsTable() const { return sweeps_; }
  QTableView* trialsTable() const { return trials_; }
  QSortFilterProxyModel* trialsProxy() const { return proxy_; }
  SweepTrialsModel* trialsModel() const { return model_; }
  widgets::ParallelCoordinates* plot() const { return plot_; }
  // Each trial's metric per epoch (live while the sweep runs; the best
  // trial drawn thick, early-terminated ones dashed).
  widgets::TrainingPlot* curves() const { return curves_; }
  qint64 selectedRun() const;  // -1 when none

 public slots:
  void refresh();
  void chooseAndStartSweep();  // file dialog, then startSweep

 signals:
  void openRequested(qint64 runId);
  void runSelected(qint64 runId);
  void sweepFinished(qint64 sweepId, const QString& status);
  void message(const QString& text);

 private:
  void loadTrials();
  void loadCurves();
  void selectRun(qint64 run_id);
  void updateButtons();

  std::string db_, runsDir_;
  qint64 current_ = -1;
  qint64 sortedSweep_ = -1;  // the sweep the trials were last ranked for
  QStandardItemModel* sweepRows_;
  QTableView* sweeps_;
  SweepTrialsModel* model_;
  QSortFilterProxyModel* proxy_;
  QTableView* trials_;
  widgets::ParallelCoordinates* plot_;
  widgets::TrainingPlot* curves_;
  QLabel* summary_;
  QPushButton* run_;
  QPushButton* stop_;
  QPushButton* openBest_;
  QPushButton* openSelected_;
  QSpinBox* parallel_;
  QTimer* watch_;
  std::atomic<bool> cancel_{false};
  std::atomic<int64_t> launched_{0};  // the id of the sweep launched here, once known
  QFutureWatcher<SweepResult>* future_;
};

}  // namespace perceptra::studio
