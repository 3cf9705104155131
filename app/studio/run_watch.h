#pragma once
// Following a run another process trains (perceptra-cli, rank 0 of an
// mpirun job, another studio) from its experiment store: the store is
// opened read-only (StoreOptions::read_only: no recovery, no migration,
// nothing written), polled by a QTimer, each read on a worker thread
// (QtConcurrent + QFutureWatcher) so the UI never waits for SQLite; a read
// still in flight when the timer fires skips that tick.
//
//   auto* d = new RunWatchDialog(dbPath, runId, parent);   // curves + progress
//   d->show();                                             // polls every second
#include <QDialog>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QTimer>

#include <cstdint>
#include <vector>

#include "core/store/store.h"

class QLabel;
class QProgressBar;

namespace perceptra::widgets {
class TrainingPlot;
}

namespace perceptra::studio {

// What one read of the store says about the run (a value, any thread).
struct RunWatchSnapshot {
  int64_t run_id = 0;
  bool ok = false;
  QString error;  // why the read failed (missing file, unknown run, ...)
  QString name, statusMessage;
  RunStatus status = RunStatus::Running;
  bool early_terminated = false;
  int epochs_done = 0, epochs = 0;
  double trained_seconds = 0;
  double heartbeat_age_s = 0;  // seconds since the writer last touched the run
  // Training loss on the epoch axis (batch k of epoch e at e + (k+1)/batches),
  // validation metrics at their epoch (1-based).
  std::vector<double> loss_steps, loss, acc_epochs, acc, vloss_epochs, vloss;
};

// One read-only look at run `run_id` of the store at `db_path`.
RunWatchSnapshot read_run_snapshot(const std::string& db_path, int64_t run_id);

class RunWatcher : public QObject {
  Q_OBJECT
 public:
  RunWatcher(QString dbPath, qint64 runId, int intervalMs = 1000, QObject* parent = nullptr);
  ~RunWatcher() override;
  void start();  // reads at once, then every interval
  void stop();
  bool active() const { return timer_.isActive(); }
  bool reading() const { return watcher_.isRunning(); }
  int reads() const { return reads_; }
  const RunWatchSnapshot& last() const { return last_; }
  const QString& databasePath() const { return db_; }
  qint64 runId() const { return run_; }

 signals:
  void updated();  // last() holds the new snapshot
  void ended();    // the run is no longer running (polling stops)

 private:
  void poll();
  QString db_;
  qint64 run_;
  QTimer timer_;
  QFutureWatcher<RunWatchSnapshot> watcher_;
  RunWatchSnapshot last_;
  int reads_ = 0;
};

class RunWatchDialog : public QDialog {
  Q_OBJECT
 public:
  RunWatchDialog(const QString& dbPath, qint64 runId, QWidget* parent = nullptr, int intervalMs = 1000);
  RunWatcher* watcher() const { return watcher_; }
  widgets::TrainingPlot* lossPlot() const { return loss_; }
  widgets::TrainingPlot* accuracyPlot() const { return acc_; }
  QProgressBar* progress() const { return progress_; }
  QString statusText() const;

 private:
  void showSnapshot();
  RunWatcher* watcher_;
  widgets::TrainingPlot* loss_;
  widgets::TrainingPlot* acc_;
  QProgressBar* progress_;
  QLabel* status_;
};

}  // namespace perceptra::studio
