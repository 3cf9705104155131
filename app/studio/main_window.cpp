#include "app/studio/main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QScreen>
#include <QScrollArea>
#include <QStyle>
#include <QSettings>
#include <QStatusBar>
#include <QSystemTrayIcon>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <QtConcurrent/QtConcurrent>
#include <cstdio>
#include <filesystem>

#include "app/studio/app_icon.h"
#include "app/studio/command_palette.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/live_panel.h"
#include "app/studio/model_panel.h"
#include "app/studio/qt_convert.h"
#include "app/studio/runs_panel.h"
#include "app/studio/training_panel.h"
#include "app/studio/training_session.h"
#include "core/io/model_file.h"
#include "core/io/onnx_export.h"
#include "core/nn/model.h"
#include "core/store/store.h"
#include "widgets/confusion_matrix_view.h"
#include "widgets/image_grid.h"
#include "widgets/theme.h"

namespace perceptra::studio {

namespace {
constexpr double kNotifyAfterSeconds = 20;  // a "long" run earns a desktop notification

LoadedRun loadRunBlocking(int64_t id, const std::string& db) {
  LoadedRun r;
  try {
    ExperimentStore store(db);
    RunRecord run = store.run(id);
    std::optional<ArtifactRecord> a;
    for (const char* kind : {"model", "best", "checkpoint"})
      if ((a = store.latest_artifact(id, kind))) break;
    if (!a) throw Error("run " + std::to_string(id) + " has no saved model or checkpoint");
    LoadedModel m = load_model(a->path);
    TrainConfig c = TrainConfig::from_json(run.hparams);
    Shape input = m.model->input_shape();
    auto data = std::make_shared<PreparedData>(prepare_data(c, &input));
    r.model = std::shared_ptr<Model>(m.model.release());
    r.data = data;
    r.modelPath = QString::fromStdString(a->path);
    r.title = QStringLiteral("run %1 (%2)").arg(id).arg(QString::fromStdString(to_string(run.status)));
  } catch (const std::exception& e) {
    r.error = QString::fromStdString(e.what());
  }
  return r;
}
}  // namespace

MainWindow::MainWindow(const StudioOptions& options, QWidget* parent) : QMainWindow(parent), options_(options) {
  setObjectName("mainWindow");
  setWindowTitle(tr("Perceptra Studio"));
  setWindowIcon(appIcon());
  settings_ = options.settingsFile.isEmpty() ? std::make_unique<QSettings>()
                                             : std::make_unique<QSettings>(options.settingsFile, QSettings::IniFormat);
  // Workspace: the explicit option, else the last one chosen, else the default.
  dbPath_ = options.dbPath;
  if (dbPath_.isEmpty() && qEnvironmentVariableIsEmpty("PERCEPTRA_DB"))
    dbPath_ = settings_->value(QStringLiteral("workspace/db")).toString();
  // The studio always keeps its runs: PERCEPTRA_DB=- ("no store", a CLI
  // choice) falls back to the default workspace instead of a file named '-'.
  if (dbPath_.isEmpty()) dbPath_ = QString::fromStdString(ExperimentStore::default_path());
  if (dbPath_ == QLatin1String("-"))
    dbPath_ = QString::fromStdString(ExperimentStore::default_path(false));
  runsDir_ = options.runsDir.isEmpty() ? QFileInfo(dbPath_).absoluteDir().filePath(QStringLiteral("runs")) : options.runsDir;

  session_ = new TrainingSession(this);
  session_->setSnapshotEvery(options.snapshotEvery);

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

  deviceLabel_ = new QLabel(this);
  runLabel_ = new QLabel(this);
  statusBar()->addPermanentWidget(runLabel_);
  statusBar()->addPermanentWidget(deviceLabel_);
  deviceLabel_->setText(tr("Store: %1").arg(QDir::toNativeSeparators(dbPath_)));

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
  connect(&prepareWatcher_, &QFutureWatcher<std::shared_ptr<const PreparedData>>::finished, this, [this] {
    prepared_ = prepareWatcher_.result();
    if (prepared_ && pendingModel_) onEpochModel(std::exchange(pendingModel_, nullptr), pendingEpoch_);
  });
  connect(&runWatcher_, &QFutureWatcher<LoadedRun>::finished, this, [this] {
    LoadedRun r = runWatcher_.result();
    if (!r.error.isEmpty()) {
      QMessageBox::warning(this, tr("Open run"), r.error);
      return;
    }
    lastModelPath_ = r.modelPath;
    updateActions();
    live_->setClassNames(toQStringList(r.data->source.class_names));
    inspect_->inspect(r.model, r.data, r.title);
    inspect_->setProperty("fillConfusion", r.title);
    updateActions();
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

  runs_->setDatabasePath(dbPath_.toStdString());
  resize(1600, 1000);
  loadSettings();
  updateActions();

  QString ds = options.initialDataset;
  if (ds.isEmpty()) ds = settings_->value(QStringLiteral("dataset/last")).toString();
  if (ds.isEmpty()) ds = DatasetPanel::defaultDataset();
  dataset_->openDataset(ds);
}

MainWindow::~MainWindow() {
  session_->stopAndWait();
  prepareWatcher_.waitForFinished();
  runWatcher_.waitForFinished();
}

QAction* MainWindow::makeAction(const QString& name, const QString& text, const QKeySequence& key, const QString& tip) {
  auto* a = new QAction(text, this);
  a->setObjectName(name);
  if (!key.isEmpty()) a->setShortcut(key);
  a->setToolTip(tip.isEmpty() ? QString(text).remove('&') : tip);
  a->setStatusTip(a->toolTip());
  addAction(a);  // window-wide shortcuts even when the menu bar is hidden
  return a;
}

QString MainWindow::exportName(const QString& ext) const {
  // e.g. "simplecnn-fashion-mnist-run3.onnx" in the home folder.
  QString base = QString::fromStdString(model_->spec().value("name", std::string("model")));
  if (auto src = dataset_->source()) base += QLatin1Char('-') + QFileInfo(qs(src->name)).fileName();
  if (lastEnd_ && lastEnd_->run_id > 0) base += QStringLiteral("-run%1").arg(lastEnd_->run_id);
  return QDir::home().filePath(base + QLatin1Char('.') + ext);
}

QAction* MainWindow::action(const QString& objectName) const { return findChild<QAction*>(objectName); }

void MainWindow::createActions() {
  trainAct_ = makeAction("actionTrain", tr("&Train"), QKeySequence(Qt::CTRL | Qt::Key_T), tr("Start training with the current settings"));
  pauseAct_ = makeAction("actionPause", tr("&Pause"), QKeySequence(Qt::CTRL | Qt::Key_Period), tr("Pause or resume training"));
  stopAct_ = makeAction("actionStop", tr("&Stop"), QKeySequence(Qt::Key_Escape), tr("Stop training (the model so far is saved)"));
  lrFindAct_ = makeAction("actionLrFind", tr("Find &learning rate"), QKeySequence(Qt::CTRL | Qt::Key_L),
                          tr("Run the LR range test and suggest a learning rate"));
  lrFindAct_->setIconText(tr("Find LR"));
  exportAct_ = makeAction("actionExport", tr("&Export model…"), QKeySequence(Qt::CTRL | Qt::Key_E), tr("Save the trained model (.pmodel)"));
  onnxAct_ = makeAction("actionExportOnnx", tr("Export &ONNX…"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E),
                        tr("Export the trained model to ONNX (validated by the ONNX checker)"));
  connect(trainAct_, &QAction::triggered, this, [this] { startTraining(); });
  connect(pauseAct_, &QAction::triggered, this, &MainWindow::togglePause);
  connect(stopAct_, &QAction::triggered, this, &MainWindow::stopTraining);
  connect(lrFindAct_, &QAction::triggered, this, [this] { startLrFinder(); });
  connect(exportAct_, &QAction::triggered, this, [this] {
    QString path = QFileDialog::getSaveFileName(this, tr("Export model"), exportName(QStringLiteral("pmodel")), tr("Perceptra model (*.pmodel)"));
    if (path.isEmpty()) return;
    QString err;
    if (exportNative(path, &err))
      QMessageBox::information(this, tr("Export"), tr("Saved %1.").arg(QDir::toNativeSeparators(path)));
    else
      QMessageBox::warning(this, tr("Export"), err);
  });
  connect(onnxAct_, &QAction::triggered, this, [this] {
    QString path = QFileDialog::getSaveFileName(this, tr("Export ONNX"), exportName(QStringLiteral("onnx")), tr("ONNX model (*.onnx)"));
    if (path.isEmpty()) return;
    QString err;
    if (exportOnnx(path, &err))
      QMessageBox::information(this, tr("Export ONNX"),
                               tr("Wrote %1.\n\nThe ONNX checker validated the model. Inputs are raw pixels in [0,1] "
                                  "(normalisation is part of the graph); the output is the logits.")
                                   .arg(QDir::toNativeSeparators(path)));
    else
      QMessageBox::warning(this, tr("Export ONNX"), err);
  });
}

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

void MainWindow::createMenus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* openFolder = makeAction("actionOpenFolder", tr("Open dataset &folder…"), QKeySequence::Open, tr("Open an image folder, IDX or CIFAR-10 folder"));
  connect(openFolder, &QAction::triggered, dataset_, &DatasetPanel::openFolderDialog);
  auto* openFile = makeAction("actionOpenFile", tr("Open IDX &file…"), {}, tr("Open an IDX images file"));
  connect(openFile, &QAction::triggered, dataset_, &DatasetPanel::openFileDialog);
  auto* sample = makeAction("actionOpenSample", tr("Open &sample data"), {}, tr("The bundled shapes dataset"));
  connect(sample, &QAction::triggered, this, [this] { dataset_->openDataset(QStringLiteral("sample")); });
  auto* saveSpec = makeAction("actionSaveSpec", tr("Save model spec…"), {}, {});
  connect(saveSpec, &QAction::triggered, this, [this] {
    QString p = QFileDialog::getSaveFileName(this, tr("Save model spec"), QString(), tr("Model spec (*.json)"));
    if (!p.isEmpty()) model_->saveSpec(p);
  });
  auto* loadSpec = makeAction("actionLoadSpec", tr("Load model spec…"), {}, {});
  connect(loadSpec, &QAction::triggered, this, [this] {
    QString p = QFileDialog::getOpenFileName(this, tr("Load model spec"), QString(), tr("Model spec (*.json)"));
    if (!p.isEmpty()) model_->loadSpec(p);
  });
  auto* workspace = makeAction("actionWorkspace", tr("Open &workspace database…"), {}, tr("Choose the experiment database (runs, metrics, artifacts)"));
  connect(workspace, &QAction::triggered, this, [this] {
    QString p = QFileDialog::getSaveFileName(this, tr("Workspace database"), dbPath_, tr("Perceptra database (*.db)"), nullptr,
                                             QFileDialog::DontConfirmOverwrite);
    if (!p.isEmpty()) setDatabasePath(p);
  });
  auto* quit = makeAction("actionQuit", tr("&Quit"), QKeySequence::Quit, {});
  connect(quit, &QAction::triggered, this, &QWidget::close);
  file->addActions({openFolder, openFile, sample});
  file->addSeparator();
  file->addActions({loadSpec, saveSpec});
  file->addSeparator();
  file->addActions({exportAct_, onnxAct_});
  file->addSeparator();
  file->addActions({workspace, quit});

  auto* train = menuBar()->addMenu(tr("&Train"));
  train->addActions({trainAct_, pauseAct_, stopAct_});
  train->addSeparator();
  train->addAction(lrFindAct_);

  auto* view = menuBar()->addMenu(tr("&View"));
  auto* paletteAct = makeAction("actionPalette", tr("Command palette…"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P), tr("Find any command by name"));
  connect(paletteAct, &QAction::triggered, this, &MainWindow::showCommandPalette);
  auto* liveAct = makeAction("actionShowLive", tr("Show live view"), QKeySequence(Qt::CTRL | Qt::Key_1), {});
  connect(liveAct, &QAction::triggered, this, [this] { central_->setCurrentWidget(live_); });
  auto* runsAct = makeAction("actionShowRuns", tr("Show runs"), QKeySequence(Qt::CTRL | Qt::Key_2), {});
  connect(runsAct, &QAction::triggered, this, [this] {
    runs_->refresh();
    central_->setCurrentWidget(runs_);
  });
  auto* refreshRuns = makeAction("actionRefreshRuns", tr("Refresh runs"), QKeySequence(Qt::Key_F5), {});
  connect(refreshRuns, &QAction::triggered, runs_, &RunsPanel::refresh);
  auto* topLosses = makeAction("actionTopLosses", tr("Show top losses"), {}, tr("All misclassified images, highest loss first"));
  connect(topLosses, &QAction::triggered, this, [this] {
    live_->confusion()->clearSelection();
    inspect_->showTopLosses();
  });
  auto* themes = new QActionGroup(this);
  auto* dark = makeAction("actionDarkTheme", tr("Dark theme"), {}, {});
  auto* light = makeAction("actionLightTheme", tr("Light theme"), {}, {});
  for (auto* a : {dark, light}) {
    a->setCheckable(true);
    themes->addAction(a);
  }
  connect(dark, &QAction::triggered, this, [this] { setThemeByName(QStringLiteral("dark")); });
  connect(light, &QAction::triggered, this, [this] { setThemeByName(QStringLiteral("light")); });
  auto* resetLayout = makeAction("actionResetLayout", tr("Reset layout"), {}, {});
  connect(resetLayout, &QAction::triggered, this, [this] {
    for (auto* d : docks_) {
      d->setFloating(false);
      d->show();
    }
    resize(1600, 1000);
  });
  view->addActions({paletteAct, liveAct, runsAct, refreshRuns, topLosses});
  view->addSeparator();
  for (auto* d : docks_) view->addAction(d->toggleViewAction());
  view->addSeparator();
  view->addActions({dark, light, resetLayout});

  auto* help = menuBar()->addMenu(tr("&Help"));
  auto* about = makeAction("actionAbout", tr("About Perceptra"), {}, {});
  connect(about, &QAction::triggered, this, [this] {
    QMessageBox::about(this, tr("About Perceptra"),
                       tr("<b>Perceptra Studio</b><br>A desktop deep-learning studio: pick data and a model, train, "
                          "watch, inspect, compare and export.<br>Runs are stored in %1.")
                           .arg(QDir::toNativeSeparators(dbPath_).toHtmlEscaped()));
  });
  help->addAction(about);

  auto* tb = addToolBar(tr("Main"));
  tb->setObjectName("mainToolBar");
  tb->setMovable(false);
  tb->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  tb->setIconSize(QSize(16, 16));
  trainAct_->setIcon(mediaIcon(MediaIcon::Play));
  pauseAct_->setIcon(mediaIcon(MediaIcon::Pause));
  stopAct_->setIcon(mediaIcon(MediaIcon::Stop));
  lrFindAct_->setIcon(style()->standardIcon(QStyle::SP_FileDialogContentsView));
  exportAct_->setIcon(style()->standardIcon(QStyle::SP_DialogSaveButton));
  onnxAct_->setIcon(style()->standardIcon(QStyle::SP_DriveFDIcon));
  paletteAct->setIcon(style()->standardIcon(QStyle::SP_FileDialogListView));
  tb->addActions({trainAct_, pauseAct_, stopAct_});
  tb->addSeparator();
  tb->addActions({lrFindAct_, exportAct_, onnxAct_});
  tb->addSeparator();
  tb->addAction(paletteAct);
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
  connect(session_, &TrainingSession::epochModel, this, &MainWindow::onEpochModel);
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
  c.db_path = dbPath_.toStdString();
  c.out_dir = runsDir_.toStdString();
  if (c.schedule.kind == "step") {
    // One decay per epoch.
    const auto& info = dataset_->info();
    double train = double(info.train_size) * (c.valid_pct ? 1 - *c.valid_pct / 100.0 : 1.0);
    c.schedule.step_size = std::max<int64_t>(1, int64_t(train / std::max(1, c.batch_size)));
  }
  return c;
}

bool MainWindow::startTraining() {
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
  TrainConfig c = currentConfig();
  session_->setProbe(src->train, std::min<int64_t>(probeIndex_, src->train->size() - 1));
  QString err;
  if (!session_->start(c, &err)) {
    QMessageBox::warning(this, tr("Train"), err);
    return false;
  }
  settings_->setValue(QStringLiteral("dataset/last"), dataset_->currentRequest());
  runClock_.start();
  epochsSeen_ = 0;
  batchesSeen_ = 0;
  runId_ = 0;
  epochs_ = c.epochs;
  live_->reset(toQStringList(src->class_names));
  inspect_->clear(tr("Training… the misclassified images appear after the first epoch."));
  training_->resetProgress(tr("Starting…"));
  training_->setStatus(tr("Preparing data and model…"));
  prepareInspectData(c);
  central_->setCurrentWidget(live_);
  updateActions();
  return true;
}

void MainWindow::prepareInspectData(const TrainConfig& config) {
  prepared_.reset();
  pendingModel_.reset();
  // A previous preparation still running is simply superseded (its result is dropped).
  prepareWatcher_.setFuture(QtConcurrent::run([config]() -> std::shared_ptr<const PreparedData> {
    try {
      return std::make_shared<const PreparedData>(prepare_data(config));
    } catch (const std::exception&) {
      return nullptr;  // the trainer reports the same error
    }
  }));
}

void MainWindow::onEpochModel(std::shared_ptr<Model> model, int epoch) {
  if (!prepared_) {
    pendingModel_ = std::move(model);
    pendingEpoch_ = epoch;
    return;
  }
  inspect_->inspect(std::move(model), prepared_, tr("after epoch %1").arg(epoch + 1));
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
  if (!session_->startLrFind(c, &err)) {
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
  if (!e.model_path.empty()) lastModelPath_ = qs(e.model_path);
  else if (!e.best_model_path.empty()) lastModelPath_ = qs(e.best_model_path);
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
  if (e.reason == EndReason::Stopped && !e.model_path.empty() && prepared_ && epochsSeen_ == 0 && !closing_) {
    try {
      LoadedModel m = load_model(e.model_path);
      inspect_->inspect(std::shared_ptr<Model>(m.model.release()), prepared_, tr("stopped model"));
    } catch (const std::exception&) {
    }
  }
  runs_->refresh();
  updateActions();  // Export needs the model path set above
  if (secs >= kNotifyAfterSeconds) notify(tr("Training %1").arg(what), text);
  emit trainingEnded();
}

void MainWindow::notify(const QString& title, const QString& text) {
  if (QSystemTrayIcon::isSystemTrayAvailable() && QSystemTrayIcon::supportsMessages()) {
    if (!tray_) {
      tray_ = new QSystemTrayIcon(windowIcon(), this);
      tray_->setToolTip(tr("Perceptra"));
    }
    tray_->show();
    tray_->showMessage(title, text, QSystemTrayIcon::Information, 8000);
  } else {
    statusBar()->showMessage(QStringLiteral("%1 — %2").arg(title, text.section('\n', 0, 0)), 15000);
  }
}

// Loads the last trained (or opened) model, lets `write` save it somewhere,
// and turns any failure into *error.
bool MainWindow::exportModel(const std::function<QString(const LoadedModel&)>& write, QString* error) {
  if (lastModelPath_.isEmpty()) {
    if (error) *error = tr("Train a model (or open a run) first.");
    return false;
  }
  try {
    const LoadedModel m = load_model(lastModelPath_.toStdString());
    statusBar()->showMessage(write(m), 8000);
    return true;
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
}

bool MainWindow::exportNative(const QString& path, QString* error) {
  return exportModel([&](const LoadedModel& m) {
    save_model(path.toStdString(), *m.model, m.meta);
    load_model(path.toStdString());  // proves the written file reads back
    return tr("Exported %1").arg(path);
  }, error);
}

bool MainWindow::exportOnnx(const QString& path, QString* error) {
  return exportModel([&](const LoadedModel& m) {
    export_onnx(path.toStdString(), *m.model, m.meta);  // runs onnx::checker before writing
    return tr("Exported %1 (validated by the ONNX checker)").arg(path);
  }, error);
}

void MainWindow::openRun(int64_t runId) {
  if (runWatcher_.isRunning()) return;
  inspect_->clear(tr("Loading run %1…").arg(runId));
  const std::string db = dbPath_.toStdString();
  runWatcher_.setFuture(QtConcurrent::run([runId, db] { return loadRunBlocking(runId, db); }));
}

bool MainWindow::resumeRun(int64_t runId) {
  if (session_->active()) return false;
  auto src = dataset_->source();
  if (src) session_->setProbe(src->train, std::min<int64_t>(probeIndex_, src->train->size() - 1));
  QString err;
  if (!session_->resumeRun(runId, dbPath_.toStdString(), &err)) {
    QMessageBox::warning(this, tr("Resume run"), err);
    return false;
  }
  runClock_.start();
  epochsSeen_ = 0;
  batchesSeen_ = 0;
  const TrainConfig& c = session_->config();
  epochs_ = c.epochs;
  training_->setFrom(c);
  live_->reset(src ? toQStringList(src->class_names) : QStringList());
  inspect_->clear(tr("Resuming run %1…").arg(runId));
  prepareInspectData(c);
  central_->setCurrentWidget(live_);
  updateActions();
  return true;
}

void MainWindow::setDatabasePath(const QString& path) {
  if (session_->active()) {
    statusBar()->showMessage(tr("Stop the current run before switching workspaces."), 6000);
    return;
  }
  try {
    ExperimentStore probe(path.toStdString());  // creates or validates it
  } catch (const std::exception& e) {
    QMessageBox::warning(this, tr("Workspace"), QString::fromStdString(e.what()));
    return;
  }
  dbPath_ = path;
  if (options_.runsDir.isEmpty()) runsDir_ = QFileInfo(dbPath_).absoluteDir().filePath(QStringLiteral("runs"));
  settings_->setValue(QStringLiteral("workspace/db"), dbPath_);
  runs_->setDatabasePath(dbPath_.toStdString());
  deviceLabel_->setText(tr("Store: %1").arg(QDir::toNativeSeparators(dbPath_)));
}

void MainWindow::showCommandPalette() {
  QList<QAction*> all;
  for (QAction* a : actions()) all << a;
  for (auto* d : docks_) all << d->toggleViewAction();
  palette_->setActions(all);
  palette_->show();
  palette_->raise();
}

void MainWindow::setThemeByName(const QString& name) {
  auto t = widgets::themeFromName(name);
  widgets::applyTheme(*qApp, t);
  settings_->setValue(QStringLiteral("ui/theme"), widgets::themeName(t));
  if (auto* a = action(t == widgets::Theme::Dark ? "actionDarkTheme" : "actionLightTheme")) a->setChecked(true);
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
  exportAct_->setEnabled(!lastModelPath_.isEmpty());
  onnxAct_->setEnabled(!lastModelPath_.isEmpty());
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

void MainWindow::loadSettings() {
  setThemeByName(settings_->value(QStringLiteral("ui/theme"), QStringLiteral("dark")).toString());
  if (!options_.restoreLayout) return;
  if (settings_->contains(QStringLiteral("ui/geometry"))) restoreGeometry(settings_->value(QStringLiteral("ui/geometry")).toByteArray());
  if (settings_->contains(QStringLiteral("ui/state"))) restoreState(settings_->value(QStringLiteral("ui/state")).toByteArray());
  const QString spec = settings_->value(QStringLiteral("model/spec")).toString();
  const QString builtin = settings_->value(QStringLiteral("model/builtin")).toString();
  if (!builtin.isEmpty() && builtin != QLatin1String("custom")) model_->selectBuiltin(builtin);
  else if (!spec.isEmpty()) {
    auto j = nlohmann::json::parse(spec.toStdString(), nullptr, false);
    if (!j.is_discarded() && j.is_object()) model_->setSpec(j);
  }
  if (settings_->contains(QStringLiteral("train/lr"))) training_->setLearningRate(settings_->value(QStringLiteral("train/lr")).toDouble());
  if (settings_->contains(QStringLiteral("train/epochs"))) training_->setEpochs(settings_->value(QStringLiteral("train/epochs")).toInt());
  if (settings_->contains(QStringLiteral("train/batch"))) training_->setBatchSize(settings_->value(QStringLiteral("train/batch")).toInt());
}

void MainWindow::saveSettings() {
  settings_->setValue(QStringLiteral("ui/geometry"), saveGeometry());
  settings_->setValue(QStringLiteral("ui/state"), saveState());
  settings_->setValue(QStringLiteral("model/builtin"), model_->builtinName());
  settings_->setValue(QStringLiteral("model/spec"), QString::fromStdString(model_->spec().dump()));
  if (!dataset_->currentRequest().isEmpty()) settings_->setValue(QStringLiteral("dataset/last"), dataset_->currentRequest());
  settings_->setValue(QStringLiteral("train/lr"), training_->learningRate());
  TrainConfig c;
  training_->applyTo(c);
  settings_->setValue(QStringLiteral("train/epochs"), c.epochs);
  settings_->setValue(QStringLiteral("train/batch"), c.batch_size);
  settings_->sync();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  closing_ = true;
  // Stops within one batch; the trainer marks the run 'stopped' in the store
  // and saves the model so far.
  if (session_->active()) session_->stopAndWait();
  saveSettings();
  event->accept();
}

void MainWindow::runDemo(const QString& screenshotPath, int epochs, int maxBatches, const QString& tab) {
  auto done = std::make_shared<bool>(false);
  // The demo also reports how responsive the UI stayed (largest timer gap).
  auto* heart = new QTimer(this);
  auto beat = std::make_shared<QElapsedTimer>();
  auto maxGap = std::make_shared<qint64>(0);
  heart->setInterval(20);
  connect(heart, &QTimer::timeout, this, [beat, maxGap] {
    if (beat->isValid()) *maxGap = std::max(*maxGap, beat->restart());
    else beat->start();
  });
  heart->start();
  auto finish = [this, screenshotPath, done, tab, heart, maxGap](bool ok) {
    if (*done) return;
    *done = true;
    heart->stop();
    std::fprintf(stderr, "demo: %d epoch(s), %lld batches, largest UI timer gap %lld ms\n", epochsSeen_,
                 static_cast<long long>(batchesSeen_), static_cast<long long>(*maxGap));
    if (tab == QLatin1String("runs")) {
      runs_->refresh();
      runs_->selectRuns({runId_});
      central_->setCurrentWidget(runs_);
    } else {
      central_->setCurrentWidget(live_);
    }
    QTimer::singleShot(800, this, [this, screenshotPath, ok] {
      QPixmap shot = grab();
      bool saved = shot.save(screenshotPath);
      emit demoFinished(ok && saved);
    });
  };
  auto begin = [this, epochs, maxBatches, finish] {
    training_->setEpochs(epochs);
    training_->setBatchSize(64);
    training_->setLearningRate(0.02);
    model_->selectBuiltin(QStringLiteral("simplecnn"));
    connect(this, &MainWindow::trainingEnded, this, [this, finish] {
      // Wait for the final predictions, select the worst mistake, then grab.
      auto pick = [this, finish] {
        if (inspect_->shownItems().empty()) return finish(true);
        connect(inspect_, &InspectPanel::detailShown, this, [finish] { finish(true); }, Qt::SingleShotConnection);
        inspect_->selectItem(0);
      };
      if (inspect_->busy() || !inspect_->predictions())
        connect(inspect_, &InspectPanel::predictionsReady, this, pick, Qt::SingleShotConnection);
      else
        pick();
    }, Qt::SingleShotConnection);
    // The demo caps the batches per epoch so it takes a minute, not an hour.
    TrainConfig c = currentConfig();
    c.max_batches = maxBatches;
    session_->setProbe(dataset_->source()->train, 0);
    QString err;
    if (!session_->start(c, &err)) {
      training_->setStatus(err);
      return finish(false);
    }
    runClock_.start();
    epochs_ = c.epochs;
    live_->reset(toQStringList(dataset_->source()->class_names));
    inspect_->clear(tr("Training…"));
    prepareInspectData(c);
    updateActions();
  };
  QTimer::singleShot(240000, this, [finish] { finish(false); });  // never hang
  if (dataset_->source() && !dataset_->isLoading())
    begin();
  else
    connect(dataset_, &DatasetPanel::datasetOpened, this, begin, Qt::SingleShotConnection);
}

}  // namespace perceptra::studio
