// MainWindow's run lifecycle: the configuration the panels describe, the
// cost guard, starting / pausing / stopping training and the LR finder,
// resuming a stored run, and what the window does when a run ends. The
// window's construction and wiring stay in main_window.cpp.
#include "app/studio/main_window.h"

#include <QMessageBox>
#include <QProgressBar>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>

#include "app/studio/cost_view.h"
#include "app/studio/current_run.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/fine_tune_box.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/live_panel.h"
#include "app/studio/model_panel.h"
#include "app/studio/problems_panel.h"
#include "app/studio/qt_convert.h"
#include "app/studio/runs_panel.h"
#include "app/studio/start_from_box.h"
#include "app/studio/studio_controller.h"
#include "app/studio/training_panel.h"
#include "app/studio/training_session.h"
#include "core/train/cost_estimate.h"

namespace perceptra::studio {

namespace {
constexpr double kNotifyAfterSeconds = 20;  // a "long" run earns a desktop notification
}  // namespace

TrainConfig MainWindow::currentConfig() const {
  TrainConfig c;
  dataset_->applyTo(c);  // data, split, image size and resize policy, augmentation
  c.model = model_->spec();
  model_->startFrom()->applyTo(c);  // before the training form: fine-tune epochs need it
  training_->applyTo(c);
  if (c.schedule.kind == "step") {
    // One decay per epoch.
    const auto& info = dataset_->info();
    double train = double(info.train_size) * (c.valid_pct ? 1 - *c.valid_pct / 100.0 : 1.0);
    c.schedule.step_size = std::max<int64_t>(1, int64_t(train / std::max(1, c.batch_size)));
  }
  return c;
}

bool MainWindow::startTraining() { return startTraining(currentConfig()); }

bool MainWindow::startTraining(const TrainConfig& config) {
  if (session_->active()) return false;
  auto src = dataset_->source();
  if (!src) {
    statusBar()->showMessage(tr("Open a dataset first."), 5000);
    return false;
  }
  if (!model_->isValid()) {
    QMessageBox::warning(this, tr("Train"), tr("The model does not fit together:\n%1").arg(model_->firstError()));
    return false;
  }
  if (!passesCostGuard(config, tr("Train"))) return false;
  session_->setProbe(src->train, std::min<int64_t>(probeIndex_, src->train->size() - 1));
  QString err;
  const bool sameData = !dataset_->isLoading() && dataset_->currentRequest().toStdString() == config.data;
  if (!controller_->startTraining(config, sameData ? src : nullptr, &err)) {
    QMessageBox::warning(this, tr("Train"), err);
    return false;
  }
  settings_->setValue(QStringLiteral("dataset/last"), dataset_->currentRequest());
  runClock_.start();
  epochsSeen_ = 0;
  batchesSeen_ = 0;
  runId_ = 0;
  epochs_ = config.epochs;
  current_->beginLive(config, toQStringList(src->class_names));
  training_->resetProgress(tr("Starting…"));
  training_->setStatus(tr("Preparing data and model…"));
  central_->setCurrentWidget(live_);
  updateActions();
  return true;
}

void MainWindow::beginRunViews(const QStringList& classes, const QString& inspectMessage) {
  live_->reset(classes);
  inspect_->clear(inspectMessage);
}

bool MainWindow::passesCostGuard(const TrainConfig& config, const QString& what) {
  auto src = dataset_->source();
  if (!src) return true;
  QString err;
  const std::optional<CostEstimate> e = controller_->estimate(config, *src, &err);
  if (!e) return true;  // a spec that does not fit: the model panel says why
  training_->costView()->setEstimate(*e);
  model_->costView()->setEstimate(*e);
  if (e->verdict == CostVerdict::TooLarge) {
    const QString text = tr("Refused: %1").arg(QString::fromStdString(e->refusal()));
    reportProblem(QStringLiteral("error"), what, text);
    training_->setStatus(text);
    showRefusal(what, text);
    return false;
  }
  if (e->verdict == CostVerdict::Large) {
    TrainConfig key = config;
    key.run_name.clear();
    const std::string id = key.to_json().dump();
    if (!agreedLarge_.count(id)) {
      const QString q = tr("This run needs about %1 of the %2 of memory available (%3 of activations per batch of %4). "
                           "The machine may become slow while it trains.\n\nStart it anyway?")
                            .arg(QString::fromStdString(bytes_text(e->peak_train_bytes)),
                                 QString::fromStdString(bytes_text(e->limit.bytes)),
                                 QString::fromStdString(bytes_text(e->train_activation_bytes)))
                            .arg(e->batch_size);
      if (!ask_(what, q)) {
        training_->setStatus(
            tr("Not started: the run is large (%1). %2")
                .arg(QString::fromStdString(bytes_text(e->peak_train_bytes)), QString::fromStdString(e->suggestion())));
        return false;
      }
      agreedLarge_.insert(id);  // asked once
    }
  }
  return true;
}

void MainWindow::showRefusal(const QString& title, const QString& text) {
  if (closing_) return;
  // Not modal: the window (and a test driving it) carries on; the text is
  // also in the Problems panel.
  auto* box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, this);
  box->setObjectName("refusalBox");
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setModal(false);
  box->show();
}

void MainWindow::updateEstimate() {
  auto src = dataset_->source();
  if (!src || dataset_->isLoading()) {
    const QString why =
        dataset_->isLoading() ? tr("Opening the dataset…") : tr("Open a dataset to see what a run will cost.");
    model_->costView()->setUnavailable(why);
    training_->costView()->setUnavailable(why);
    return;
  }
  if (!model_->isValid()) {
    model_->costView()->setUnavailable(tr("The model does not fit together yet."));
    training_->costView()->setUnavailable(tr("The model does not fit together yet."));
    return;
  }
  QString err;
  const std::optional<CostEstimate> e = controller_->estimate(currentConfig(), *src, &err);
  if (!e) {
    model_->costView()->setUnavailable(err);
    training_->costView()->setUnavailable(err);
    return;
  }
  model_->costView()->setEstimate(*e);
  training_->costView()->setEstimate(*e);
}

void MainWindow::stopTraining() {
  if (!session_->active()) return;
  session_->stop();
  training_->setStatus(tr("Stopping…"));
}

void MainWindow::togglePause() {
  if (!session_->active() || session_->mode() != TrainingSession::Mode::Training) return;
  if (session_->paused()) {
    session_->resume();
    training_->setStatus(tr("Resumed."));
  } else {
    session_->pause();
    training_->setStatus(tr("Paused (the run stays open; Resume continues it)."));
  }
  updateActions();
}

bool MainWindow::startLrFinder() {
  if (session_->active() || !dataset_->source() || !model_->isValid()) return false;
  TrainConfig c = currentConfig();
  if (!passesCostGuard(c, tr("Find learning rate"))) return false;
  QString err;
  const bool sameData = !dataset_->isLoading() && dataset_->currentRequest().toStdString() == c.data;
  if (!controller_->startLrFinder(c, sameData ? dataset_->source() : nullptr, &err)) {
    QMessageBox::warning(this, tr("Find learning rate"), err);
    return false;
  }
  runClock_.start();
  trainClock_.start();
  batchesSeen_ = 0;
  training_->resetProgress(tr("Finding the learning rate…"));
  training_->setStatus(tr("LR range test: 100 batches on a throw-away copy of the model."));
  updateActions();
  return true;
}

void MainWindow::onTrainEnd(const TrainEnd& e, bool lrFind) {
  updateActions();
  setWindowTitle(tr("Perceptra Studio"));
  if (lrFind) {
    training_->resetProgress(tr("Idle"));
    if (e.reason == EndReason::Error)
      training_->setStatus(tr("LR finder failed: %1").arg(qs(e.message)));
    else if (e.reason == EndReason::Stopped)
      training_->setStatus(tr("LR finder stopped."));
    else
      training_->setStatus(tr("LR finder done: see the LR finder tab; Apply sets the suggested rate."));
    emit trainingEnded();
    return;
  }
  lastEnd_ = e;
  current_->endLive();
  if (e.reason == EndReason::Error)
    reportProblem(QStringLiteral("error"), e.run_id > 0 ? tr("Run %1").arg(e.run_id) : tr("Run"), qs(e.message));
  if (!e.model_path.empty())
    controller_->setLastModelPath(qs(e.model_path));
  else if (!e.best_model_path.empty())
    controller_->setLastModelPath(qs(e.best_model_path));
  const double secs = runClock_.elapsed() / 1000.0;
  QString what;
  switch (e.reason) {
    case EndReason::Done:
      what = tr("finished");
      break;
    case EndReason::Stopped:
      what = tr("stopped");
      break;
    case EndReason::Diverged:
      what = tr("diverged");
      break;
    case EndReason::Error:
      what = tr("failed");
      break;
  }
  // Time trained in this session; an accuracy only when a validation pass ran.
  QString text = tr("Run %1 %2 after %3 of training · %4 epoch(s)")
                     .arg(e.run_id)
                     .arg(what, durationText(e.seconds))
                     .arg(e.epochs_completed);
  if (e.epochs_completed > 0)
    text += tr(" · best validation accuracy %1 %").arg(e.best_valid_accuracy * 100, 0, 'f', 2);
  else
    text += tr(" · no validation pass yet (it runs at the end of each epoch)");
  if (!e.message.empty() && e.reason != EndReason::Done) text += QStringLiteral("\n") + qs(e.message);
  training_->setStatus(text);
  training_->resetProgress(e.reason == EndReason::Done ? tr("Done") : what);
  if (e.reason == EndReason::Done) training_->progressBar()->setValue(1000);
  if (e.reason == EndReason::Error && !closing_) QMessageBox::warning(this, tr("Training failed"), qs(e.message));
  // Stopped mid-epoch: inspect the saved final weights.
  if (e.reason == EndReason::Stopped && !e.model_path.empty() && controller_->runData() && epochsSeen_ == 0 &&
      !closing_) {
    if (auto m = controller_->loadModel(qs(e.model_path))) inspectModel(m, controller_->runData(), tr("stopped model"));
  }
  runs_->refresh();
  updateActions();  // Export needs the model path set above
  if (secs >= kNotifyAfterSeconds) notify(tr("Training %1").arg(what), text);
  emit trainingEnded();
}

bool MainWindow::resumeRun(int64_t runId) {
  if (session_->active()) return false;
  auto src = dataset_->source();
  if (src) session_->setProbe(src->train, std::min<int64_t>(probeIndex_, src->train->size() - 1));
  QString err;
  if (!controller_->resumeRun(runId, &err)) {
    QMessageBox::warning(this, tr("Resume run"), err);
    return false;
  }
  runClock_.start();
  epochsSeen_ = 0;
  batchesSeen_ = 0;
  const TrainConfig& c = session_->config();
  epochs_ = c.epochs;
  training_->setFrom(c);
  // The resumed run's own classes: its history and events, not the dock's dataset.
  QStringList classes;
  if (src && dataset_->currentRequest().toStdString() == c.data) classes = toQStringList(src->class_names);
  current_->beginLive(c, classes, runId);
  central_->setCurrentWidget(live_);
  updateActions();
  return true;
}

}  // namespace perceptra::studio
