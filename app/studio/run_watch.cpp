#include "app/studio/run_watch.h"

#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <chrono>
#include <map>

#include "app/studio/qt_convert.h"
#include "widgets/training_plot.h"

namespace perceptra::studio {

RunWatchSnapshot read_run_snapshot(const std::string& db_path, int64_t run_id) {
  RunWatchSnapshot s;
  s.run_id = run_id;
  try {
    StoreOptions o;
    o.read_only = true;
    o.recover_interrupted = false;
    o.busy_timeout_ms = 2000;
    ExperimentStore store(db_path, o);
    RunRecord r = store.run(run_id);
    s.name = QString::fromStdString(r.name);
    s.status = r.status;
    s.statusMessage = QString::fromStdString(r.status_message);
    s.early_terminated = r.early_terminated;
    s.epochs = r.hparams.is_object() ? r.hparams.value("epochs", 0) : 0;
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    s.heartbeat_age_s = r.heartbeat_at > 0 ? std::max(0.0, now - r.heartbeat_at) : 0;
    // Batches on the epoch axis, as the Live view: batch k of epoch e at
    // e + (k + 1) / batches, the epoch in progress at the last complete
    // epoch's batch count.
    MetricSeries loss = store.metric_series(run_id, "train_loss");
    std::map<int64_t, int64_t> per_epoch;
    for (size_t i = 0; i < loss.size(); ++i) ++per_epoch[loss.epochs[i]];
    int64_t last_full = 0;
    for (size_t i = 0, k = 0; i < loss.size(); ++i, ++k) {
      if (i > 0 && loss.epochs[i] != loss.epochs[i - 1]) {
        last_full = per_epoch[loss.epochs[i - 1]];
        k = 0;
      }
      const bool in_progress = loss.epochs[i] == loss.epochs.back();
      const double n =
          double(std::max<int64_t>(1, in_progress && last_full > 0 ? std::max(last_full, per_epoch[loss.epochs[i]])
                                                                   : per_epoch[loss.epochs[i]]));
      s.loss_steps.push_back(double(loss.epochs[i]) + double(k + 1) / n);
      s.loss.push_back(loss.values[i]);
    }
    MetricSeries acc = store.metric_series(run_id, "valid_accuracy");
    for (size_t i = 0; i < acc.size(); ++i) {
      s.acc_epochs.push_back(double(acc.epochs[i] + 1));
      s.acc.push_back(acc.values[i]);
    }
    MetricSeries vl = store.metric_series(run_id, "valid_loss");
    for (size_t i = 0; i < vl.size(); ++i) {
      s.vloss_epochs.push_back(double(vl.epochs[i] + 1));
      s.vloss.push_back(vl.values[i]);
    }
    s.epochs_done = int(acc.size());
    MetricSeries ts = store.metric_series(run_id, "trained_seconds");
    if (ts.size()) s.trained_seconds = *std::max_element(ts.values.begin(), ts.values.end());
    s.ok = true;
  } catch (const std::exception& e) {
    s.error = QString::fromStdString(e.what());
  }
  return s;
}

RunWatcher::RunWatcher(QString dbPath, qint64 runId, int intervalMs, QObject* parent)
    : QObject(parent), db_(std::move(dbPath)), run_(runId) {
  timer_.setInterval(intervalMs);
  connect(&timer_, &QTimer::timeout, this, &RunWatcher::poll);
  connect(&watcher_, &QFutureWatcher<RunWatchSnapshot>::finished, this, [this] {
    last_ = watcher_.result();
    ++reads_;
    emit updated();
    if (last_.ok && last_.status != RunStatus::Running) {
      timer_.stop();
      emit ended();
    }
  });
}

RunWatcher::~RunWatcher() {
  timer_.stop();
  watcher_.waitForFinished();  // a read never outlives the watcher it reports to
}

void RunWatcher::start() {
  timer_.start();
  poll();
}

void RunWatcher::stop() { timer_.stop(); }

void RunWatcher::poll() {
  if (watcher_.isRunning()) return;  // the previous read is still going: skip a tick
  const std::string db = db_.toStdString();
  const int64_t id = run_;
  watcher_.setFuture(QtConcurrent::run([db, id] { return read_run_snapshot(db, id); }));
}

RunWatchDialog::RunWatchDialog(const QString& dbPath, qint64 runId, QWidget* parent, int intervalMs) : QDialog(parent) {
  setObjectName("runWatchDialog");
  setWindowTitle(tr("Watching run %1 — %2").arg(runId).arg(QFileInfo(dbPath).fileName()));
  setAttribute(Qt::WA_DeleteOnClose);
  auto* layout = new QVBoxLayout(this);
  status_ = new QLabel(tr("Reading %1…").arg(dbPath), this);
  status_->setObjectName("runWatchStatus");
  status_->setWordWrap(true);
  layout->addWidget(status_);
  progress_ = new QProgressBar(this);
  progress_->setObjectName("runWatchProgress");
  progress_->setFormat(tr("epoch %v of %m"));
  layout->addWidget(progress_);
  auto* plots = new QHBoxLayout;
  loss_ = new widgets::TrainingPlot(this);
  loss_->setObjectName("runWatchLoss");
  loss_->applyPreset(widgets::TrainingPlot::Preset::Loss);
  acc_ = new widgets::TrainingPlot(this);
  acc_->setObjectName("runWatchAccuracy");
  acc_->applyPreset(widgets::TrainingPlot::Preset::Accuracy);
  plots->addWidget(loss_, 1);
  plots->addWidget(acc_, 1);
  layout->addLayout(plots, 1);
  auto* note = new QLabel(
      tr("Read-only: the store is polled every %1 s and never written.").arg(double(intervalMs) / 1000.0, 0, 'g', 2),
      this);
  note->setEnabled(false);
  layout->addWidget(note);
  resize(900, 420);
  watcher_ = new RunWatcher(dbPath, runId, intervalMs, this);
  connect(watcher_, &RunWatcher::updated, this, &RunWatchDialog::showSnapshot);
  watcher_->start();
}

QString RunWatchDialog::statusText() const { return status_->text(); }

void RunWatchDialog::showSnapshot() {
  const RunWatchSnapshot& s = watcher_->last();
  if (!s.ok) {
    status_->setText(tr("Cannot read run %1: %2").arg(s.run_id).arg(s.error));
    return;
  }
  loss_->setSeriesData(widgets::TrainingPlot::kTrainLoss, s.loss_steps, s.loss);
  loss_->setSeriesData(widgets::TrainingPlot::kValidLoss, s.vloss_epochs, s.vloss);
  acc_->setSeriesData(widgets::TrainingPlot::kValidAccuracy, s.acc_epochs, s.acc);
  loss_->refreshNow();  // once a poll: the plots show what was read
  acc_->refreshNow();
  progress_->setRange(0, std::max(1, s.epochs));
  progress_->setValue(std::min(s.epochs_done, std::max(1, s.epochs)));
  QString state = qs(to_string(s.status));
  if (s.early_terminated) state = tr("early-terminated");
  QString text = tr("Run %1 (%2): %3, epoch %4 of %5, %6 batches recorded, %7 trained")
                     .arg(s.run_id)
                     .arg(s.name)
                     .arg(state)
                     .arg(s.epochs_done)
                     .arg(s.epochs)
                     .arg(s.loss.size())
                     .arg(durationText(s.trained_seconds));
  if (s.status == RunStatus::Running && s.heartbeat_age_s > 30)
    text += tr(" — no word from its process for %1").arg(durationText(s.heartbeat_age_s));
  if (!s.statusMessage.isEmpty()) text += QStringLiteral(" — ") + s.statusMessage;
  status_->setText(text);
}

}  // namespace perceptra::studio
