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
#include <QTimer>

#include "app/studio/command_palette.h"
#include "app/studio/cost_view.h"
#include "app/studio/current_run.h"
#include "app/studio/problems_panel.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/fine_tune_box.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/live_panel.h"
#include "app/studio/model_panel.h"
#include "app/studio/qt_convert.h"
#include "app/studio/runs_panel.h"
#include "app/studio/sweeps_panel.h"
#include "app/studio/start_from_box.h"
#include "app/studio/studio_controller.h"
#include "app/studio/training_panel.h"
#include "app/studio/training_session.h"
#include "app/studio/app_icon.h"
#include "core/interp/confusion.h"
#include "core/interp/live_snapshot.h"
#include "core/nn/model.h"
#include "core/train/cost_estimate.h"
#include "widgets/confusion_matrix_view.h"

namespace perceptra::studio {

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
  controller_->setWorkspace(
      db, options.runsDir.isEmpty() ? QFileInfo(db).absoluteDir().filePath(QStringLiteral("runs")) : options.runsDir);

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
  problems_ = new ProblemsPanel(this);
  current_ = new CurrentRun(this);
  palette_ = new CommandPalette(this);
  costTimer_ = new QTimer(this);
  costTimer_->setSingleShot(true);
  costTimer_->setInterval(150);
  connect(costTimer_, &QTimer::timeout, this, &MainWindow::updateEstimate);
  ask_ = [this](const QString& title, const QString& text) {
    return QMessageBox::question(this, title, text, QMessageBox::Yes | QMessageBox::No, QMessageBox::No) ==
           QMessageBox::Yes;
  };

  createActions();
  createDocks();
  createMenus();
  connectSession();
  connectPanels();
  createSweeps();
  connectCurrentRun();

  deviceLabel_ = new QLabel(this);
  runLabel_ = new QLabel(this);
  statusBar()->addPermanentWidget(runLabel_);
  statusBar()->addPermanentWidget(deviceLabel_);
  deviceLabel_->setText(tr("Store: %1").arg(QDir::toNativeSeparators(databasePath())));

  runs_->setDatabasePath(databasePath().toStdString());
  inspect_->setDatabasePath(databasePath());  // where Inspect's dataset versions go
  model_->startFrom()->setWorkspace(databasePath(), controller_->runsDir());
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
  auto* pd = dock(problems_, problems_->title(), "problemsDock", Qt::RightDockWidgetArea);
  tabifyDockWidget(id, pd);
  id->raise();
  connect(problems_, &ProblemsPanel::countChanged, pd, [this, pd] { pd->setWindowTitle(problems_->title()); });
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
  connect(model_->startFrom(), &StartFromBox::startModelChanged, this,
          [this] { training_->fineTune()->setActive(!model_->startFrom()->modelPath().isEmpty()); });
  connect(dataset_, &DatasetPanel::datasetFailed, this, [this](const QString& e) {
    reportProblem(QStringLiteral("error"), tr("Dataset"), e);
    costTimer_->start();
    updateActions();
  });
  connect(dataset_, &DatasetPanel::loadingChanged, this, [this] { updateActions(); });
  connect(dataset_, &DatasetPanel::probeRequested, this, [this](qint64 idx) {
    probeIndex_ = idx;
    if (auto src = dataset_->source()) session_->setProbe(src->train, idx);
    statusBar()->showMessage(tr("Probe image: sample #%1 (its activations refresh at the next snapshot)").arg(idx),
                             5000);
  });
  connect(inspect_, &InspectPanel::probeRequested, this, [this](std::shared_ptr<const Dataset> data, qint64 idx) {
    session_->setProbe(std::move(data), idx);
    statusBar()->showMessage(tr("Probe image: validation image #%1").arg(idx), 5000);
  });
  connect(model_, &ModelPanel::specChanged, this, [this] {
    updateActions();
    costTimer_->start();
  });
  connect(training_, &TrainingPanel::costSettingsChanged, costTimer_, qOverload<>(&QTimer::start));
  connect(model_, &ModelPanel::loadFailed, this, [this](const QString& path, const QString& error) {
    reportProblem(QStringLiteral("error"), tr("Model spec"),
                  error.contains(path) ? error : tr("%1: %2").arg(path, error));
    showRefusal(tr("Load model spec"), error);
  });
  connect(model_, &ModelPanel::activationsRequested, this, [this](const QString& layer) {
    central_->setCurrentWidget(live_);
    if (!live_->showLayer(layer))
      statusBar()->showMessage(tr("No activations of %1 yet: they appear while a run trains.").arg(layer), 6000);
  });
  // "Retrain on this version": the current settings on the dataset version
  // Inspect's relabels and exclusions made.
  connect(inspect_, &InspectPanel::retrainRequested, this, [this](const QString& dataRef) {
    TrainConfig c = currentConfig();
    c.data = dataRef.toStdString();
    startTraining(c);
  });
  connect(training_, &TrainingPanel::learningRateApplied, this,
          [this](double lr) { statusBar()->showMessage(tr("Learning rate set to %1").arg(lr, 0, 'g', 3), 5000); });
  connect(live_->confusion(), &widgets::ConfusionMatrixView::cellClicked, this, [this](int t, int p) {
    inspect_->showCell(t, p);
    if (auto* d = findChild<QDockWidget*>(QStringLiteral("inspectDock"))) d->raise();
  });
  connect(live_->confusion(), &widgets::ConfusionMatrixView::selectionCleared, inspect_, &InspectPanel::showTopLosses);
  connect(inspect_, &InspectPanel::cellFilterCleared, live_->confusion(),
          &widgets::ConfusionMatrixView::clearSelection);
  connect(runs_, &RunsPanel::openRequested, this, [this](qint64 id) { openRun(id); });
  connect(runs_, &RunsPanel::inspectRequested, this, [this](qint64 id) {
    openRun(id);
    if (auto* d = findChild<QDockWidget*>(QStringLiteral("inspectDock"))) d->raise();
  });
  connect(controller_, &StudioController::historyLoaded, current_, &CurrentRun::setHistory);
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
    trainClock_.start();  // the measured rate (and ETA) start here, after preparation
    batchesSeen_ = 0;
    QString dev = qs(e.device);
    if (!e.device_note.empty()) statusBar()->showMessage(qs(e.device_note), 10000);
    deviceLabel_->setText(tr("Device: %1 · %2").arg(dev, qs(e.backend)));
    if (session_->mode() == TrainingSession::Mode::LrFind) {
      training_->resetProgress(tr("Finding the learning rate…"));
      return;
    }
    runLabel_->setText(tr("Run %1").arg(e.run_id));
    current_->setId(e.run_id, tr("run %1").arg(e.run_id));
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
      training_->setProgress(0, 1, int64_t(burst.back().step + 1), 100, burst.back().images_per_s,
                             trainClock_.elapsed() / 1000.0, batchesSeen_, session_->config().batch_size);
      return;
    }
    live_->addBatches(burst);
    const auto& b = burst.back();
    training_->setProgress(b.epoch, epochs_, b.batch + 1, b.batches, b.images_per_s, trainClock_.elapsed() / 1000.0,
                           batchesSeen_, session_->config().batch_size);
    training_->costView()->setMeasured(b.images_per_s, session_->config().batch_size);
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
    if (!current_->live()) return;  // another run is shown
    if (auto data = controller_->runData()) inspectModel(std::move(model), data, tr("after epoch %1").arg(epoch + 1));
  });
  connect(session_, &TrainingSession::logMessage, this, [this](const QString& level, const QString& text) {
    // Every message of a run is kept: what it adapted, skipped files, the estimate.
    if (text == QLatin1String("paused") || text == QLatin1String("resumed")) {
      statusBar()->showMessage(text, 4000);
      return;
    }
    const QString source = runId_ > 0                                          ? tr("Run %1").arg(runId_)
                           : session_->mode() == TrainingSession::Mode::LrFind ? tr("LR finder")
                                                                               : tr("Run");
    reportProblem(level, source, text);
  });
  connect(session_, &TrainingSession::lrFindEnded, this, [this](const LrFindEnd& e) {
    training_->showLrFinder(e.lrs, e.losses, e.smoothed, e.suggested_lr);
    central_->setCurrentWidget(live_);
    live_->showLrFinder();
    statusBar()->showMessage(tr("LR finder suggests %1%2")
                                 .arg(e.suggested_lr, 0, 'g', 3)
                                 .arg(e.diverged ? tr(" (the loss diverged at the end, as expected)") : QString()),
                             10000);
  });
  connect(session_, &TrainingSession::ended, this, &MainWindow::onTrainEnd);
}

void MainWindow::connectCurrentRun() {
  connect(current_, &CurrentRun::changed, this, [this](const RunView& v) {
    // Every view switches to this run at once.
    beginRunViews(v.classes, v.live
                                 ? (v.id > 0 ? tr("Resuming run %1…").arg(v.id)
                                             : tr("Training… the misclassified images appear after the first epoch."))
                                 : tr("Loading %1…").arg(v.title));
    runLabel_->setText(v.id > 0 ? tr("Run %1").arg(v.id) : tr("New run"));
    if (v.config && !v.live) training_->setFrom(*v.config);
  });
  connect(current_, &CurrentRun::historyLoaded, this, [this](const RunHistory& h) {
    live_->addBatches(h.batches);
    for (const auto& e : h.epochs) live_->addEpoch(e);
  });
  connect(current_, &CurrentRun::cleared, this, [this](const QString& reason) {
    live_->showEmpty(reason);
    inspect_->clear(reason);
    inspect_->setProperty("fillConfusion", QString());
    runLabel_->clear();
    training_->resetProgress(tr("Idle"));
    training_->setStatus(reason);
  });
}

void MainWindow::reportProblem(const QString& level, const QString& source, const QString& text) {
  const auto lv = ProblemsPanel::levelFromName(level);
  problems_->add(lv, source, text);
  if (lv != ProblemsPanel::Level::Info)
    statusBar()->showMessage(
        tr("%1: %2 (all messages: the Problems panel)")
            .arg(lv == ProblemsPanel::Level::Error ? tr("Error") : tr("Warning"), text.section('\n', 0, 0)),
        8000);
}

void MainWindow::inspectModel(std::shared_ptr<Model> model, std::shared_ptr<const PreparedData> data,
                              const QString& title) {
  if (!model || !data) return;
  QString refusal;
  const int batch = controller_->inferenceBatch(*model, *data, &refusal);
  if (batch == 0) {
    reportProblem(QStringLiteral("error"), tr("Inspect"), refusal);
    inspect_->clear(refusal);
    return;
  }
  if (batch < 256)
    problems_->add(ProblemsPanel::Level::Info, tr("Inspect"),
                   tr("Predicting in batches of %1 images (not 256) so that it fits in memory.").arg(batch));
  inspect_->setPredictionBatch(batch);
  inspect_->inspect(std::move(model), std::move(data), title);
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
  if (session_->active()) {
    // The views show the run in training; another one would mix with its live events.
    statusBar()->showMessage(tr("Stop the current run before opening run %1.").arg(runId), 6000);
    return;
  }
  if (controller_->openRun(runId)) inspect_->clear(tr("Loading run %1…").arg(runId));
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
  if (options_.runsDir.isEmpty())
    controller_->setRunsDir(QFileInfo(path).absoluteDir().filePath(QStringLiteral("runs")));
  settings_->setValue(QStringLiteral("workspace/db"), path);
  runs_->setDatabasePath(path.toStdString());
  sweeps_->setDatabasePath(path.toStdString());
  inspect_->setDatabasePath(path);
  model_->startFrom()->setWorkspace(path, controller_->runsDir());
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
  int8Act_->setEnabled(!lastModelPath().isEmpty());
  onnxAct_->setEnabled(!lastModelPath().isEmpty());
}

void MainWindow::onDatasetOpened() {
  auto src = dataset_->source();
  if (!src) return;
  const Shape s = src->train->sample_shape();
  model_->setInput(s, src->train->num_classes());
  probeIndex_ = 0;
  // The views of a finished run on other data go (no matrix relabelled with
  // this dataset's classes, no Inspect images of a run no longer shown).
  if (!current_->keepsViewsFor(dataset_->currentRequest()))
    current_->clear(tr("Opened %1: the views of %2 were cleared (reopen it from the Runs tab).")
                        .arg(qs(src->name), current_->view().title));
  const QString dsName = tr("Dataset %1").arg(QFileInfo(qs(src->name)).fileName());
  for (const auto& w : src->warnings) reportProblem(QStringLiteral("warning"), dsName, qs(w));
  if (src->class_names.size() == 1)
    reportProblem(QStringLiteral("warning"), dsName,
                  tr("%1 has one class ('%2'): a classifier trained on it reaches 100 % and loss 0 whatever it "
                     "learns. Add at least one more class folder.")
                      .arg(qs(src->location), qs(src->class_names[0])));
  costTimer_->start();
  statusBar()->showMessage(tr("Opened %1: %2 training images, %3 classes")
                               .arg(qs(src->name))
                               .arg(src->train->size())
                               .arg(src->train->num_classes()),
                           6000);
  updateActions();
}

void MainWindow::onRunLoaded(const LoadedRun& r) {
  if (!r.error.isEmpty()) {
    reportProblem(QStringLiteral("error"), tr("Run %1").arg(r.id), r.error);
    showRefusal(tr("Open run"), r.error);
    return;
  }
  if (session_->active()) return;  // a run started meanwhile: it owns the views
  // One run everywhere: curves, hyper-parameters, confusion matrix (from
  // its predictions), Inspect and the dataset dock.
  current_->open(r.id, r.config, toQStringList(r.data->source.class_names), r.title);
  current_->setHistory(r.history);
  runId_ = r.id;
  if (r.model) model_->setSpec(r.model->spec());
  const QString data = QString::fromStdString(r.config.data);
  if (!data.isEmpty() && dataset_->currentRequest() != data) dataset_->openDataset(data);
  inspect_->setProperty("fillConfusion", r.title);
  inspectModel(r.model, r.data, r.title);
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
