// The main window's chrome: actions and their shortcuts, menus, toolbar,
// desktop notifications, the command palette, themes and persistent settings.
#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QStatusBar>
#include <QSystemTrayIcon>
#include <QStyle>
#include <QTabWidget>
#include <QToolBar>

#include "app/studio/app_icon.h"
#include "app/studio/command_palette.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/help_dialogs.h"
#include "app/studio/int8_export_dialog.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/live_panel.h"
#include "app/studio/main_window.h"
#include "app/studio/model_panel.h"
#include "app/studio/qt_convert.h"
#include "app/studio/runs_panel.h"
#include "app/studio/studio_controller.h"
#include "app/studio/training_panel.h"
#include "widgets/confusion_matrix_view.h"
#include "widgets/theme.h"

namespace perceptra::studio {

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

Int8ExportDialog* MainWindow::openInt8Export() {
  const QString model = lastModelPath();
  if (model.isEmpty()) {
    QMessageBox::information(this, tr("Export int8"), tr("Train a model (or open a run) first."));
    return nullptr;
  }
  QString base = exportName(QStringLiteral("pmodel"));
  base.chop(int(sizeof(".pmodel")) - 1);
  auto* d = new Int8ExportDialog(model, dataset_->source(), base, this);
  d->setAttribute(Qt::WA_DeleteOnClose);
  d->show();
  return d;
}

QAction* MainWindow::action(const QString& objectName) const { return findChild<QAction*>(objectName); }

void MainWindow::createActions() {
  trainAct_ = makeAction("actionTrain", tr("&Train"), QKeySequence(Qt::CTRL | Qt::Key_T),
                         tr("Start training with the current settings"));
  pauseAct_ =
      makeAction("actionPause", tr("&Pause"), QKeySequence(Qt::CTRL | Qt::Key_Period), tr("Pause or resume training"));
  stopAct_ = makeAction("actionStop", tr("&Stop"), QKeySequence(Qt::Key_Escape),
                        tr("Stop training (the model so far is saved)"));
  lrFindAct_ = makeAction("actionLrFind", tr("Find &learning rate"), QKeySequence(Qt::CTRL | Qt::Key_L),
                          tr("Run the LR range test and suggest a learning rate"));
  lrFindAct_->setIconText(tr("Find LR"));
  exportAct_ = makeAction("actionExport", tr("&Export model…"), QKeySequence(Qt::CTRL | Qt::Key_E),
                          tr("Save the trained model (.pmodel)"));
  onnxAct_ = makeAction("actionExportOnnx", tr("Export &ONNX…"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_E),
                        tr("Export the trained model to ONNX (validated by the ONNX checker)"));
  int8Act_ =
      makeAction("actionExportInt8", tr("Export &int8 (quantised)…"), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_E),
                 tr("Quantise the trained model to int8, see what it costs, then write it (.pmodel, QDQ ONNX)"));
  connect(int8Act_, &QAction::triggered, this, [this] { openInt8Export(); });
  connect(trainAct_, &QAction::triggered, this, [this] { startTraining(); });
  connect(pauseAct_, &QAction::triggered, this, &MainWindow::togglePause);
  connect(stopAct_, &QAction::triggered, this, &MainWindow::stopTraining);
  connect(lrFindAct_, &QAction::triggered, this, [this] { startLrFinder(); });
  connect(exportAct_, &QAction::triggered, this, [this] {
    QString path = QFileDialog::getSaveFileName(this, tr("Export model"), exportName(QStringLiteral("pmodel")),
                                                tr("Perceptra model (*.pmodel)"));
    if (path.isEmpty()) return;
    QString err;
    if (exportNative(path, &err))
      QMessageBox::information(this, tr("Export"), tr("Saved %1.").arg(QDir::toNativeSeparators(path)));
    else
      QMessageBox::warning(this, tr("Export"), err);
  });
  connect(onnxAct_, &QAction::triggered, this, [this] {
    QString path = QFileDialog::getSaveFileName(this, tr("Export ONNX"), exportName(QStringLiteral("onnx")),
                                                tr("ONNX model (*.onnx)"));
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

void MainWindow::createMenus() {
  auto* file = menuBar()->addMenu(tr("&File"));
  auto* openFolder = makeAction("actionOpenFolder", tr("Open dataset &folder…"), QKeySequence::Open,
                                tr("Open an image folder, IDX or CIFAR-10 folder"));
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
    QString p = QFileDialog::getOpenFileName(
        this, tr("Load model spec"), QString(),
        tr("Model spec or model file (*.json *.pmodel *.ckpt);;Model spec (*.json);;Model file (*.pmodel *.ckpt)"));
    if (!p.isEmpty()) model_->loadSpec(p);
  });
  auto* workspace = makeAction("actionWorkspace", tr("Open &workspace database…"), {},
                               tr("Choose the experiment database (runs, metrics, artifacts)"));
  connect(workspace, &QAction::triggered, this, [this] {
    QString p =
        QFileDialog::getSaveFileName(this, tr("Workspace database"), databasePath(), tr("Perceptra database (*.db)"),
                                     nullptr, QFileDialog::DontConfirmOverwrite);
    if (!p.isEmpty()) setDatabasePath(p);
  });
  auto* quit = makeAction("actionQuit", tr("&Quit"), QKeySequence::Quit, {});
  connect(quit, &QAction::triggered, this, &QWidget::close);
  file->addActions({openFolder, openFile, sample});
  file->addSeparator();
  file->addActions({loadSpec, saveSpec});
  file->addSeparator();
  file->addActions({exportAct_, onnxAct_, int8Act_});
  file->addSeparator();
  file->addActions({workspace, quit});

  auto* train = menuBar()->addMenu(tr("&Train"));
  train->addActions({trainAct_, pauseAct_, stopAct_});
  train->addSeparator();
  train->addAction(lrFindAct_);

  auto* view = menuBar()->addMenu(tr("&View"));
  auto* paletteAct = makeAction("actionPalette", tr("Command palette…"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P),
                                tr("Find any command by name"));
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
  auto* topLosses =
      makeAction("actionTopLosses", tr("Show top losses"), {}, tr("All misclassified images, highest loss first"));
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

  createHelpMenu();

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

void MainWindow::createHelpMenu() {
  auto* help = menuBar()->addMenu(tr("&Help"));
  auto* guide = makeAction("actionGettingStarted", tr("&Getting started"), QKeySequence(Qt::Key_F1),
                           tr("A short guide: dataset, model, train, inspect, export"));
  connect(guide, &QAction::triggered, this, [this] { showGettingStarted(); });
  auto* keys = makeAction("actionShortcuts", tr("&Keyboard shortcuts"), QKeySequence(Qt::CTRL | Qt::Key_Slash),
                          tr("Every command with a keyboard shortcut"));
  connect(keys, &QAction::triggered, this, [this] { showShortcutSheet(); });
  auto* readme =
      makeAction("actionReadme", tr("&README (offline)"), {}, tr("The project's README, as shipped with this build"));
  connect(readme, &QAction::triggered, this, [this] { showReadme(); });
  auto* about = makeAction("actionAbout", tr("&About Perceptra"), {}, tr("Version, build (CUDA, oneDNN) and devices"));
  connect(about, &QAction::triggered, this, [this] { showAbout(); });
  help->addActions({guide, keys, readme});
  help->addSeparator();
  help->addAction(about);
}

namespace {
// One window per kind: a second request raises the open one.
template <class Make>
QWidget* raiseOrCreate(QWidget* parent, const QString& name, Make make) {
  QWidget* w = parent->findChild<QWidget*>(name, Qt::FindDirectChildrenOnly);
  if (!w) {
    w = make();
    w->setAttribute(Qt::WA_DeleteOnClose);
  }
  w->show();
  w->raise();
  w->activateWindow();
  return w;
}
}  // namespace

QWidget* MainWindow::showShortcutSheet() {
  // Built from the live actions each time it opens, so it cannot go stale.
  if (auto* old = findChild<QWidget*>(QStringLiteral("shortcutSheet"), Qt::FindDirectChildrenOnly))
    old->close(), old->deleteLater();
  QList<QAction*> all = findChildren<QAction*>();
  auto* sheet = new ShortcutSheet(all, this);
  sheet->setAttribute(Qt::WA_DeleteOnClose);
  sheet->show();
  return sheet;
}

QWidget* MainWindow::showGettingStarted() {
  return raiseOrCreate(this, QStringLiteral("gettingStarted"), [this] {
    auto* t = new HelpText(QStringLiteral("gettingStarted"), tr("Getting started"), this);
    t->setMarkdown(gettingStartedMarkdown());
    return t;
  });
}

QWidget* MainWindow::showReadme() {
  return raiseOrCreate(this, QStringLiteral("readmeViewer"), [this] {
    auto* t = new HelpText(QStringLiteral("readmeViewer"), tr("README"), this);
    t->setMarkdown(bundledReadme());
    return t;
  });
}

QWidget* MainWindow::showAbout() {
  return raiseOrCreate(this, QStringLiteral("aboutDialog"), [this] {
    auto* t = new HelpText(QStringLiteral("aboutDialog"), tr("About Perceptra"), this);
    t->setHtml(aboutHtml(QDir::toNativeSeparators(databasePath())));
    t->resize(620, 420);
    return t;
  });
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

void MainWindow::loadSettings() {
  setThemeByName(settings_->value(QStringLiteral("ui/theme"), QStringLiteral("dark")).toString());
  if (!options_.restoreLayout) return;
  if (settings_->contains(QStringLiteral("ui/geometry")))
    restoreGeometry(settings_->value(QStringLiteral("ui/geometry")).toByteArray());
  if (settings_->contains(QStringLiteral("ui/state")))
    restoreState(settings_->value(QStringLiteral("ui/state")).toByteArray());
  const QString spec = settings_->value(QStringLiteral("model/spec")).toString();
  const QString builtin = settings_->value(QStringLiteral("model/builtin")).toString();
  if (!builtin.isEmpty() && builtin != QLatin1String("custom"))
    model_->selectBuiltin(builtin);
  else if (!spec.isEmpty()) {
    auto j = nlohmann::json::parse(spec.toStdString(), nullptr, false);
    if (!j.is_discarded() && j.is_object()) model_->setSpec(j);
  }
  if (settings_->contains(QStringLiteral("train/lr")))
    training_->setLearningRate(settings_->value(QStringLiteral("train/lr")).toDouble());
  if (settings_->contains(QStringLiteral("train/epochs")))
    training_->setEpochs(settings_->value(QStringLiteral("train/epochs")).toInt());
  if (settings_->contains(QStringLiteral("train/batch")))
    training_->setBatchSize(settings_->value(QStringLiteral("train/batch")).toInt());
}

void MainWindow::saveSettings() {
  settings_->setValue(QStringLiteral("ui/geometry"), saveGeometry());
  settings_->setValue(QStringLiteral("ui/state"), saveState());
  settings_->setValue(QStringLiteral("model/builtin"), model_->builtinName());
  settings_->setValue(QStringLiteral("model/spec"), QString::fromStdString(model_->spec().dump()));
  if (!dataset_->currentRequest().isEmpty())
    settings_->setValue(QStringLiteral("dataset/last"), dataset_->currentRequest());
  settings_->setValue(QStringLiteral("train/lr"), training_->learningRate());
  TrainConfig c;
  training_->applyTo(c);
  settings_->setValue(QStringLiteral("train/epochs"), c.epochs);
  settings_->setValue(QStringLiteral("train/batch"), c.batch_size);
  settings_->sync();
}

}  // namespace perceptra::studio
