#include "app/studio/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileInfo>
#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>

#include "app/studio/command_palette.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/live_panel.h"
#include "app/studio/model_panel.h"
#include "app/studio/qt_convert.h"
#include "app/studio/runs_panel.h"
#include "app/studio/studio_controller.h"
#include "app/studio/training_panel.h"
#include "app/studio/training_session.h"
#include "app/studio/app_icon.h"
#include "core/interp/confusion.h"
#include "core/interp/live_snapshot.h"
#include "widgets/confusion_matrix_view.h"

namespace perceptra::studio {

namespace {
constexpr double kNotifyAfterSeconds = 20;  // a "long" run earns a desktop notification
}  // namespace

MainWindow::MainWindow(const StudioOptions& options, QWidget* parent) : QMainWindow(parent), options_(options) {
  setObjectName("mainWindow");
  setWindowTitle(tr("Perceptra Studio"));
  setWindowIcon(appIcon());
  settings_ = options.settingsFile.isEmpty() ? std::make_unique<QSettings>()
                                             : std::make_unique<QSettings>(options.settingsFile, QSettings::IniFormat);
  controller_ = new StudioController(this);
  session_ = controller_->session();
  session_->setSnapshotEvery(options.snapshotEvery);
  // Workspace: the explicit option, else the last one chosen, else the default.
  QString db = options.dbPath;
  if (db.isEmpty() && qEnvironmentVariableIsEmpty("PERCEPTRA_DB"))
    db = settings_->value(QStringLiteral("workspace/db")).toString();
  // The studio always keeps its runs: PERCEPTRA_DB=- ("no store", a CLI
  // choice) falls back to the default workspace instead of a file named '-'.
  if (db.isEmpty() || db == QLatin1String("-")) db = StudioController::defaultDatabasePath(db.isEmpty());
  controller_->setWorkspace(db, options.runsDir.isEmpty() ? QFileInfo(db).absoluteDir().filePath(QStringLiteral("runs")) : options.runsDir);

  central_ = new QTabWidget(this);
  central_->setObjectName("centralTabs");
  central_->setDocumentMode(true);
  live_ = new LivePanel(central_);
  runs_ = new RunsPanel(central_);
  central_->addTab(live_, tr("Live"));
  central_->addTab(runs_, tr("Runs"));
  setCentralWidget(central_);

  dataset_ = new DatasetPanel(this);
  model_ = new ModelPanel(this);
  training_ = new TrainingPanel(this);
  inspect_ = new InspectPanel(this);
  palette_ = new CommandPalette(this);

  createActions();
  createDocks();
  createMenus();
  connectSession();
  connectPanels();

  deviceLabel_ = new QLabel(this);
  runLabel_ = new QLabel(this);
  statusBar()->addPermanentWidget(runLabel_);
  statusBar()->addPermanentWidget(deviceLabel_);
  deviceLabel_->setText(tr("Store: %1").arg(QDir::toNativeSeparators(databasePath())));

  runs_->setDatabasePath(databasePath().toStdString());
  inspect_->setDatabasePath(databasePath());  // where Inspect's dataset versions go
  resize(1600, 1000);
  loadSettings();
  updateActions();

  QString ds = options.initialDataset;
  if (ds.isEmpty()) ds = settings_->value(QStringLiteral("dataset/last")).toString();
  if (ds.isEmpty()) ds = DatasetPanel::defaultDataset();
  dataset_->openDataset(ds);
}

MainWindow::~MainWindow() { controller_->stopAndWait(); }

TrainingSession* MainWindow::session() const { return session_; }
QString MainWindow::databasePath() const { return controller_->databasePath(); }
QString MainWindow::lastModelPath() const { return controller_->lastModelPath(); }

void MainWindow::createDocks() {
  auto dock = [this](QWidget* w, const QString& title, const QString& name, Qt::DockWidgetArea area) {
    auto* d = new QDockWidget(title, this);
    d->setObjectName(name);
    d->setWidget(w);
    d->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable | QDockWidget::DockWidgetClosable);
    addDockWidget(area, d);
    docks_ << d;
    return d;
  };
  auto* dd = dock(dataset_, tr("Dataset"), "datasetDock", Qt::LeftDockWidgetArea);
  // The training form grows with the LR finder's plot: scroll rather than squeeze.
  auto* trainingScroll = new QScrollArea(this);
  trainingScroll->setWidgetResizable(true);
  trainingScroll->setFrameShape(QFrame::NoFrame);
  trainingScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  trainingScroll->setWidget(training_);
  auto* td = dock(trainingScroll, tr("Training"), "trainingDock", Qt::LeftDockWidgetArea);
  auto* md = dock(model_, tr("Model"), "modelDock", Qt::LeftDockWidgetArea);
  auto* id = dock(inspect_, tr("Inspect"), "inspectDock", Qt::RightDockWidgetArea);
  // Dataset and Model share the top of the left column, Training below.
  tabifyDockWidget(dd, md);
  dd->raise();
  resizeDocks({dd, td}, {430, 510}, Qt::Vertical);  // the training form and its status whole
  resizeDocks({dd, id}, {380, 420}, Qt::Horizontal);
  training_->setActions(trainAct_, pauseAct_, stopAct_, lrFindAct_);
  live_->setLrFinderWidget(training_->lrFinderBox());
}

void MainWindow::connectPanels() {
  connect(dataset_, &DatasetPanel::datasetOpened, this, &MainWindow::onDatasetOpened);
  connect(dataset_, &DatasetPanel::datasetFailed, this, [this](const QString& e) {
    statusBar()->showMessage(tr("Dataset error: %1").arg(e), 10000);
    updateActions();
  });
  connect(dataset_, &DatasetPanel::loadingChanged, this, [this] { updateActions(); });
  connect(dataset_, &DatasetPanel::probeRequested, this, [this](qint64 idx) {
    probeIndex_ = idx;
    if (auto src = dataset_->source()) session_->setProbe(src->train, idx);
    statusBar()->showMessage(tr("Probe image: sample #%1 (its activations refresh at the next snapshot)").arg(idx), 5000);
  });
  connect(inspect_, &InspectPanel::probeRequested, this, [this](std::shared_ptr<const Dataset> data, qint64 idx) {
    session_->setProbe(std::move(data), idx);
    statusBar()->showMessage(tr("Probe image: validation image #%1").arg(idx), 5000);
  });
  // "Retrain on this version": the current settings on the dataset version
  // Inspect's relabels and exclusions made.
  connect(inspect_, &InspectPanel::retrainRequested, this, [this](const QString& dataRef) {
    TrainConfig c = currentConfig();
    c.data = dataRef.toStdString();
    startTraining(c);
  });
  connect(model_, &ModelPanel::specChanged, this, [this] { updateActions(); });
  connect(training_, &TrainingPanel::learningRateApplied, this, [this](double lr) {
    statusBar()->showMessage(tr("Learning rate set to %1").arg(lr, 0, 'g', 3), 5000);
  });
  connect(live_->confusion(), &widgets::ConfusionMatrixView::cellClicked, this, [this](int t, int p) {
    inspect_->showCell(t, p);
    if (auto* d = findChild<QDockWidget*>(QStringLiteral("inspectDock"))) d->raise();
  });
  connect(live_->confusion(), &widgets::ConfusionMatrixView::selectionCleared, inspect_, &InspectPanel::showTopLosses);
  connect(inspect_, &InspectPanel::cellFilterCleared, live_->confusion(), &widgets::ConfusionMatrixView::clearSelection);
  connect(runs_, &RunsPanel::openRequested, this, [this](qint64 id) { openRun(id); });
  connect(runs_, &RunsPanel::resumeRequested, this, [this](qint64 id) { resumeRun(id); });
  connect(runs_, &RunsPanel::message, this, [this](const QString& m) { statusBar()->showMessage(m, 8000); });
  connect(controller_, &StudioController::runLoaded, this, &MainWindow::onRunLoaded);
  connect(controller_, &StudioController::lastModelChanged, this, [this] { updateActions(); });
  connect(controller_, &StudioController::runPrepared, this, [this](std::shared_ptr<const PreparedData> data) {
    dataset_->showRunSplit(int64_t(data->tv.train_indices.size()), int64_t(data->tv.valid_indices.size()));
  });
  connect(inspect_, &InspectPanel::predictionsReady, this, [this] {
    // A reopened run has no live epoch: its matrix comes from the predictions.
    const QString title = inspect_->property("fillConfusion").toString();
    if (title.isEmpty() || !inspect_->predictions()) return;
    inspect_->setProperty("fillConfusion", QString());
    const auto& P = *inspect_->predictions();
    Confusion c = P.confusion();
    live_->setConfusion(c.counts(), c.classes(),
                        tr("Confusion matrix · %1 · accuracy %2 %").arg(title).arg(P.accuracy() * 100, 0, 'f', 1));
    central_->setCurrentWidget(live_);
  });
}

void MainWindow::connectSession() {
  connect(session_, &TrainingSession::began, this, [this](const TrainBegin& e) {
    runId_ = e.run_id;
    epochs_ = e.epochs;
    QString dev = qs(e.device);
    if (!e.device_note.empty()) statusBar()->showMessage(qs(e.device_note), 10000);
    deviceLabel_->setText(tr("Device: %1 · %2").arg(dev, qs(e.backend)));
    if (session_->mode() == TrainingSession::Mode::LrFind) {
      training_->resetProgress(tr("Finding the learning rate…"));
      return;
    }
    runLabel_->setText(tr("Run %1").arg(e.run_id));
    training_->setStatus(tr("Run %1 · %2 on %3 · %4 parameters · %5 train / %6 validation images%7")
                             .arg(e.run_id)
                             .arg(qs(e.model_name), qs(e.dataset))
                             .arg(QLocale().toString(qlonglong(e.parameters)))
                             .arg(e.train_size)
                             .arg(e.valid_size)
                             .arg(e.resumed ? tr(" · resumed at epoch %1").arg(e.start_epoch + 1) : QString()));
    live_->setClassNames(toQStringList(e.class_names));
    runs_->refresh();
  });
  connect(session_, &TrainingSession::batches, this, [this](const std::vector<BatchEnd>& burst) {
    batchesSeen_ += int64_t(burst.size());
    if (session_->mode() == TrainingSession::Mode::LrFind) {
      training_->setProgress(0, 1, int64_t(burst.back().step + 1), 100, burst.back().images_per_s, runClock_.elapsed() / 1000.0);
      return;
    }
    live_->addBatches(burst);
    const auto& b = burst.back();
    training_->setProgress(b.epoch, epochs_, b.batch + 1, b.batches, b.images_per_s, runClock_.elapsed() / 1000.0);
    const int pct = epochs_ > 0 && b.batches > 0 ? int(100 * (b.epoch + double(b.batch + 1) / b.batches) / epochs_) : 0;
    setWindowTitle(tr("Perceptra Studio — run %1 · %2 %").arg(runId_).arg(pct));
  });
  connect(session_, &TrainingSession::epochEnded, this, [this](const EpochEnd& e) {
    ++epochsSeen_;
    live_->addEpoch(e);
    training_->setStatus(tr("Epoch %1/%2 · train loss %3 · valid loss %4 · valid accuracy %5 %%6")
                             .arg(e.epoch + 1)
                             .arg(e.epochs)
                             .arg(e.train_loss, 0, 'f', 4)
                             .arg(e.valid_loss, 0, 'f', 4)
                             .arg(e.valid_accuracy * 100, 0, 'f', 2)
                             .arg(e.improved ? tr(" · best so far") : QString()));
    runs_->refresh();  // the running run's epochs, best accuracy and duration
  });
  connect(session_, &TrainingSession::liveSnapshot, this,
          [this](std::shared_ptr<const LiveSnapshot> s) { live_->setSnapshot(*s); });
  connect(session_, &TrainingSession::epochModel, this, [this](std::shared_ptr<Model> model, int epoch) {
    // The trainer's own validation split: Inspect predicts on exactly it.
    if (auto data = controller_->runData()) inspect_->inspect(std::move(model), data, tr("after epoch %1").arg(epoch + 1));
  });
  connect(session_, &TrainingSession::logMessage, this, [this](const QString& level, const QString& text) {
    statusBar()->showMessage(level == QLatin1String("warning") ? tr("Warning: %1").arg(text) : text, 6000);
  });
  connect(session_, &TrainingSession::lrFindEnded, this, [this](const LrFindEnd& e) {
    training_->showLrFinder(e.lrs, e.losses, e.smoothed, e.suggested_lr);
    central_->setCurrentWidget(live_);
    live_->showLrFinder();
    statusBar()->showMessage(tr("LR finder suggests %1%2").arg(e.suggested_lr, 0, 'g', 3).arg(e.diverged ? tr(" (the loss diverged at the end, as expected)") : QString()), 10000);
  });
  connect(session_, &TrainingSession::ended, this, &MainWindow::onTrainEnd);
}

TrainConfig MainWindow::currentConfig() const {
  TrainConfig c;
  dataset_->applyTo(c);  // data, split, image size and resize policy, augmentation
  c.model = model_->spec();
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
  beginRunViews(toQStringList(src->class_names), tr("Training… the misclassified images appear after the first epoch."));
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
  QString err;
  const bool sameData = !dataset_->isLoading() && dataset_->currentRequest().toStdString() == c.data;
  if (!controller_->startLrFinder(c, sameData ? dataset_->source() : nullptr, &err)) {
    QMessageBox::warning(this, tr("Find learning rate"), err);
    return false;
  }
  runClock_.start();
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
  if (!e.model_path.empty()) controller_->setLastModelPath(qs(e.model_path));
  else if (!e.best_model_path.empty()) controller_->setLastModelPath(qs(e.best_model_path));
  const double secs = runClock_.elapsed() / 1000.0;
  QString what;
  switch (e.reason) {
    case EndReason::Done: what = tr("finished"); break;
    case EndReason::Stopped: what = tr("stopped"); break;
    case EndReason::Diverged: what = tr("diverged"); break;
    case EndReason::Error: what = tr("failed"); break;
  }
  QString text = tr("Run %1 %2 after %3 · %4 epoch(s) · best validation accuracy %5 %")
                     .arg(e.run_id)
                     .arg(what, durationText(e.seconds))
                     .arg(e.epochs_completed)
                     .arg(e.best_valid_accuracy * 100, 0, 'f', 2);
  if (!e.message.empty() && e.reason != EndReason::Done) text += QStringLiteral("\n") + qs(e.message);
  training_->setStatus(text);
  training_->resetProgress(e.reason == EndReason::Done ? tr("Done") : what);
  if (e.reason == EndReason::Done) training_->progressBar()->setValue(1000);
  if (e.reason == EndReason::Error && !closing_) QMessageBox::warning(this, tr("Training failed"), qs(e.message));
  // Stopped mid-epoch: inspect the saved final weights.
  if (e.reason == EndReason::Stopped && !e.model_path.empty() && controller_->runData() && epochsSeen_ == 0 && !closing_) {
    if (auto m = controller_->loadModel(qs(e.model_path))) inspect_->inspect(m, controller_->runData(), tr("stopped model"));
  }
  runs_->refresh();
  updateActions();  // Export needs the model path set above
  if (secs >= kNotifyAfterSeconds) notify(tr("Training %1").arg(what), text);
  emit trainingEnded();
}

bool MainWindow::exportNative(const QString& path, QString* error) {
  QString message;
  if (!controller_->exportNative(path, error, &message)) return false;
  statusBar()->showMessage(message, 8000);
  return true;
}

bool MainWindow::exportOnnx(const QString& path, QString* error) {
  QString message;
  if (!controller_->exportOnnx(path, error, &message)) return false;
  statusBar()->showMessage(message, 8000);
  return true;
}

void MainWindow::openRun(int64_t runId) {
  if (controller_->openRun(runId)) inspect_->clear(tr("Loading run %1…").arg(runId));
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
  beginRunViews(src ? toQStringList(src->class_names) : QStringList(), tr("Resuming run %1…").arg(runId));
  central_->setCurrentWidget(live_);
  updateActions();
  return true;
}

void MainWindow::setDatabasePath(const QString& path) {
  if (session_->active()) {
    statusBar()->showMessage(tr("Stop the current run before switching workspaces."), 6000);
    return;
  }
  QString err;
  if (!controller_->setDatabasePath(path, &err)) {
    QMessageBox::warning(this, tr("Workspace"), err);
    return;
  }
  if (options_.runsDir.isEmpty()) controller_->setRunsDir(QFileInfo(path).absoluteDir().filePath(QStringLiteral("runs")));
  settings_->setValue(QStringLiteral("workspace/db"), path);
  runs_->setDatabasePath(path.toStdString());
  inspect_->setDatabasePath(path);
  deviceLabel_->setText(tr("Store: %1").arg(QDir::toNativeSeparators(path)));
}

void MainWindow::updateActions() {
  const bool active = session_->active();
  const bool training = active && session_->mode() == TrainingSession::Mode::Training;
  const bool ready = dataset_->source() && !dataset_->isLoading() && model_->isValid();
  trainAct_->setEnabled(!active && ready);
  lrFindAct_->setEnabled(!active && ready);
  stopAct_->setEnabled(active);
  pauseAct_->setEnabled(training);
  pauseAct_->setText(session_->paused() ? tr("&Resume") : tr("&Pause"));
  exportAct_->setEnabled(!lastModelPath().isEmpty());
  onnxAct_->setEnabled(!lastModelPath().isEmpty());
}

void MainWindow::onDatasetOpened() {
  auto src = dataset_->source();
  if (!src) return;
  const Shape s = src->train->sample_shape();
  model_->setInput(s, src->train->num_classes());
  probeIndex_ = 0;
  live_->setClassNames(toQStringList(src->class_names));
  statusBar()->showMessage(tr("Opened %1: %2 training images, %3 classes")
                               .arg(qs(src->name))
                               .arg(src->train->size())
                               .arg(src->train->num_classes()),
                           6000);
  updateActions();
}

void MainWindow::onRunLoaded(const LoadedRun& r) {
  if (!r.error.isEmpty()) {
    QMessageBox::warning(this, tr("Open run"), r.error);
    return;
  }
  live_->setClassNames(toQStringList(r.data->source.class_names));
  inspect_->inspect(r.model, r.data, r.title);
  inspect_->setProperty("fillConfusion", r.title);
  updateActions();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  closing_ = true;
  // Stops within one batch; the trainer marks the run 'stopped' in the store
  // and saves the model so far.
  if (session_->active()) controller_->stopAndWait();
  saveSettings();
  event->accept();
}

}  // namespace perceptra::studio
