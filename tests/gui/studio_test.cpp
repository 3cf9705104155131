// Drives the real studio window: sample data, SimpleCNN, a learning rate,
// Train, one epoch, then the live views, Inspect, Runs, Export, Stop, close
// during training, settings, the command palette and the model editor.
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QListView>
#include <QSortFilterProxyModel>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QAction>
#include <gtest/gtest.h>

#include <algorithm>

#include "app/studio/command_palette.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/layer_table_model.h"
#include "app/studio/live_panel.h"
#include "app/studio/main_window.h"
#include "app/studio/model_panel.h"
#include "app/studio/runs_panel.h"
#include "app/studio/training_panel.h"
#include "app/studio/training_session.h"
#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/train/prepared_run.h"
#include "app/studio/studio_controller.h"
#include "core/store/store.h"
#include "widgets/activation_view.h"
#include "widgets/class_histogram.h"
#include "widgets/confusion_matrix_view.h"
#include "widgets/image_grid.h"
#include "widgets/lr_finder_plot.h"
#include "widgets/probability_bars.h"
#include "widgets/training_plot.h"

using namespace perceptra;
using namespace perceptra::studio;

namespace {

QTemporaryDir& tempDir() {
  static QTemporaryDir dir;
  return dir;
}

StudioOptions testOptions(const QString& tag) {
  StudioOptions o;
  o.dbPath = tempDir().filePath(tag + ".db");
  o.runsDir = tempDir().filePath(tag + "-runs");
  o.settingsFile = tempDir().filePath(tag + ".ini");
  o.initialDataset = QStringLiteral("sample");
  o.restoreLayout = true;
  o.snapshotEvery = 4;
  return o;
}

template <typename T>
T* child(QObject* root, const char* name) {
  T* w = root->findChild<T*>(QString::fromLatin1(name));
  EXPECT_NE(w, nullptr) << "no child named " << name;
  return w;
}

bool waitFor(const std::function<bool()>& cond, int ms) { return QTest::qWaitFor(cond, ms); }

// With PERCEPTRA_GUI_SHOTS=<dir>, saves grabs of the window at key moments
// (for looking at the UI; no assertion depends on them).
void shot(QWidget* w, const char* name) {
  const QString dir = qEnvironmentVariable("PERCEPTRA_GUI_SHOTS");
  if (dir.isEmpty()) return;
  QTest::qWait(200);
  w->grab().save(dir + "/" + name + ".png");
}

// Sets up the window like a user: sample data, SimpleCNN, lr, batch, epochs.
void configure(MainWindow& w, int epochs, double lr = 0.05) {
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() != nullptr && !w.datasetPanel()->isLoading(); }, 30000))
      << w.datasetPanel()->errorText().toStdString();
  auto* combo = child<QComboBox>(&w, "builtinCombo");
  combo->setCurrentText(QStringLiteral("simplecnn"));
  EXPECT_EQ(w.modelPanel()->builtinName(), QStringLiteral("simplecnn"));
  ASSERT_TRUE(w.modelPanel()->isValid()) << w.modelPanel()->firstError().toStdString();
  child<QDoubleSpinBox>(&w, "learningRate")->setValue(lr);
  child<QSpinBox>(&w, "batchSize")->setValue(32);
  child<QSpinBox>(&w, "epochs")->setValue(epochs);
}

}  // namespace

// The whole loop by pointing and clicking, with a UI heartbeat running.
TEST(Studio, TrainOneEpochInspectRunsExportStop) {
  MainWindow w(testOptions("main"));
  w.show();
  configure(w, 1);

  // The dataset view: 8 samples per class, a histogram of all 900 images,
  // an augmentation preview once a transform is on.
  EXPECT_EQ(w.datasetPanel()->sampleGrid()->count(), 6 * 8);
  ASSERT_EQ(w.datasetPanel()->histogram()->classCount(), 6);
  double histTotal = 0;
  for (int c = 0; c < 6; ++c) histTotal += w.datasetPanel()->histogram()->count(0, c);
  EXPECT_EQ(histTotal, 900.0);
  // The split in images next to the percentage.
  EXPECT_EQ(child<QLabel>(&w, "splitCounts")->text(), QStringLiteral("≈ 720 train / 180 valid"));
  w.findChild<QDoubleSpinBox*>("validPct")->setValue(10);
  EXPECT_EQ(child<QLabel>(&w, "splitCounts")->text(), QStringLiteral("≈ 810 train / 90 valid"));
  w.findChild<QDoubleSpinBox*>("validPct")->setValue(20);
  auto* augGrid = child<widgets::ImageGrid>(&w, "augmentPreview");
  EXPECT_EQ(augGrid->count(), 0);
  for (auto* c : w.datasetPanel()->findChildren<QCheckBox*>())
    if (c->text() == QStringLiteral("Flip")) c->setChecked(true);
  EXPECT_GT(augGrid->count(), 0);
  EXPECT_TRUE(w.datasetPanel()->augment().hflip);
  for (auto* c : w.datasetPanel()->findChildren<QCheckBox*>())
    if (c->text() == QStringLiteral("Flip")) c->setChecked(false);

  // Heartbeat: a UI-thread timer whose largest gap shows any blocking.
  QElapsedTimer beat;
  qint64 maxGap = 0;
  bool measuring = false;
  QTimer heart;
  heart.setInterval(20);
  QObject::connect(&heart, &QTimer::timeout, [&] {
    if (measuring) maxGap = std::max(maxGap, beat.restart());
  });

  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  auto* trainButton = child<QPushButton>(&w, "trainButton");
  ASSERT_TRUE(trainButton->isEnabled());
  beat.start();
  measuring = true;
  heart.start();
  QTest::mouseClick(trainButton, Qt::LeftButton);
  ASSERT_TRUE(w.session()->active());
  ASSERT_TRUE(waitFor([&] { return ended; }, 120000)) << "training did not end";
  measuring = false;
  ASSERT_TRUE(w.lastEnd().has_value());
  EXPECT_EQ(w.lastEnd()->reason, EndReason::Done) << w.lastEnd()->message;
  EXPECT_EQ(w.epochsSeen(), 1);
  EXPECT_LT(maxGap, 1000) << "the UI thread stalled for " << maxGap << " ms during training";

  // Live: loss points, a confusion matrix over the whole validation set,
  // activation images for every layer.
  auto* live = w.livePanel();
  EXPECT_GT(live->lossPlot()->pointCount(widgets::TrainingPlot::kTrainLoss), 10);
  EXPECT_EQ(live->lossPlot()->pointCount(widgets::TrainingPlot::kValidLoss), 1);
  auto* cm = live->confusion();
  EXPECT_EQ(cm->classCount(), 6);
  EXPECT_DOUBLE_EQ(cm->total(), 180.0);  // 20 % of the 900 sample images
  ASSERT_TRUE(waitFor([&] { return live->snapshotsShown() > 0; }, 5000));
  const int layers = w.modelPanel()->tableModel()->rowCount();
  EXPECT_EQ(live->activations()->entryCount(), layers);
  for (int i = 0; i < live->activations()->entryCount(); ++i)
    EXPECT_FALSE(live->activations()->entry(i).image.isNull()) << "layer " << i;
  EXPECT_EQ(live->filters()->entryCount(), 1);

  // Inspect: predictions of the epoch's model, misclassified sorted by loss.
  auto* inspect = w.inspectPanel();
  ASSERT_TRUE(waitFor([&] { return inspect->predictions() && !inspect->busy(); }, 30000));
  EXPECT_EQ(inspect->predictions()->size(), 180);
  const auto items = inspect->shownItems();
  int64_t wrong = 0;
  for (int64_t i = 0; i < inspect->predictions()->size(); ++i) wrong += !inspect->predictions()->correct(i);
  EXPECT_EQ(int64_t(items.size()), std::min<int64_t>(wrong, 300));
  EXPECT_EQ(inspect->grid()->count(), int(items.size()));
  for (size_t i = 1; i < items.size(); ++i) EXPECT_GE(items[i - 1].loss, items[i].loss) << i;
  for (const auto& it : items) EXPECT_NE(it.label, it.predicted);
  // The predictions' confusion equals the epoch's matrix (same weights).
  Confusion pc = inspect->predictions()->confusion();
  for (int t = 0; t < 6; ++t)
    for (int p = 0; p < 6; ++p) EXPECT_EQ(double(pc.at(t, p)), cm->count(t, p)) << t << "," << p;

  // Click a confusion cell: exactly its images (an off-diagonal one when any).
  int ct = 0, cp = 0;
  double best = -1;
  for (int t = 0; t < 6; ++t)
    for (int p = 0; p < 6; ++p) {
      double v = cm->count(t, p) + (t != p ? 1000 : 0) * (cm->count(t, p) > 0);
      if (v > best) best = v, ct = t, cp = p;
    }
  QTest::mouseClick(cm, Qt::LeftButton, {}, cm->cellRect(ct, cp).center());
  EXPECT_EQ(inspect->cellTrue(), ct);
  EXPECT_EQ(inspect->cellPredicted(), cp);
  EXPECT_EQ(double(inspect->shownItems().size()), cm->count(ct, cp));
  for (const auto& it : inspect->shownItems()) {
    EXPECT_EQ(it.label, ct);
    EXPECT_EQ(it.predicted, cp);
  }
  // Click an image: probabilities, Grad-CAM and activations.
  ASSERT_GT(inspect->grid()->count(), 0);
  bool detail = false;
  QObject::connect(inspect, &InspectPanel::detailShown, [&] { detail = true; });
  QRect r = inspect->grid()->itemRect(0);
  ASSERT_FALSE(r.isEmpty());
  QTest::mouseClick(inspect->grid()->view()->viewport(), Qt::LeftButton, {},
                    inspect->grid()->view()->viewport()->mapFrom(inspect->grid(), r.center()));
  ASSERT_TRUE(waitFor([&] { return detail; }, 20000));
  EXPECT_EQ(inspect->probabilityBars()->predictedClass(), cp);
  EXPECT_EQ(inspect->activations()->entryCount(), layers);
  auto* detailText = child<QLabel>(&w, "detailText");
  EXPECT_TRUE(detailText->text().contains(QStringLiteral("predicted"))) << detailText->text().toStdString();
  shot(&w, "cell-filter");
  // Back to top losses.
  inspect->showTopLosses();
  EXPECT_EQ(inspect->shownItems().size(), items.size());

  // Runs: the run is listed as finished.
  auto* runs = w.runsPanel();
  runs->refresh();
  ASSERT_GE(runs->runCount(), 1);
  EXPECT_EQ(w.currentRunId(), w.lastEnd()->run_id);
  {
    ExperimentStore store(w.databasePath().toStdString());
    EXPECT_EQ(store.run(w.lastEnd()->run_id).status, RunStatus::Finished);
  }
  runs->selectRuns({w.lastEnd()->run_id});
  EXPECT_EQ(runs->selectedRuns().size(), 1u);
  EXPECT_GE(runs->overlayPlot()->seriesNames().size(), 1);
  runs->filterEdit()->setText(QStringLiteral("no-such-run-anywhere"));
  EXPECT_EQ(runs->proxy()->rowCount(), 0);
  runs->filterEdit()->setText(QStringLiteral("simplecnn"));
  EXPECT_GE(runs->proxy()->rowCount(), 1);
  runs->filterEdit()->clear();
  if (auto* d = w.findChild<QDockWidget*>("modelDock")) d->raise();
  shot(&w, "model-dock");
  if (auto* d = w.findChild<QDockWidget*>("datasetDock")) d->raise();
  for (auto* c : w.datasetPanel()->findChildren<QCheckBox*>())
    if (c->text() == QStringLiteral("Flip") || c->text() == QStringLiteral("Rotate")) c->setChecked(true);
  shot(&w, "augment");

  // Export: a native model that loads, and a checked ONNX file.
  EXPECT_TRUE(w.action("actionExport")->isEnabled());
  EXPECT_TRUE(w.action("actionExportOnnx")->isEnabled());
  QString err;
  const QString native = tempDir().filePath("exported.pmodel");
  ASSERT_TRUE(w.exportNative(native, &err)) << err.toStdString();
  LoadedModel lm = load_model(native.toStdString());
  EXPECT_EQ(lm.model->num_classes(), 6);
  EXPECT_EQ(lm.meta.class_names.size(), 6u);
  const QString onnx = tempDir().filePath("exported.onnx");
  ASSERT_TRUE(w.exportOnnx(onnx, &err)) << err.toStdString();
  EXPECT_GT(QFile(onnx).size(), 1000);

  // Pause holds the run between batches; Resume continues it.
  ended = false;
  child<QSpinBox>(&w, "epochs")->setValue(200);
  ASSERT_TRUE(w.startTraining());
  // A new run clears the inspected image, caption included.
  EXPECT_FALSE(detailText->text().contains(QStringLiteral("predicted"))) << detailText->text().toStdString();
  EXPECT_EQ(inspect->probabilityBars()->predictedClass(), -1);
  ASSERT_TRUE(waitFor([&] { return w.batchesSeen() >= 3; }, 60000));
  w.action("actionPause")->trigger();
  EXPECT_TRUE(w.session()->paused());
  EXPECT_EQ(w.action("actionPause")->text().remove('&'), QStringLiteral("Resume"));
  QTest::qWait(300);  // batches in flight arrive
  const int64_t held = w.batchesSeen();
  QTest::qWait(400);
  EXPECT_EQ(w.batchesSeen(), held) << "training went on while paused";
  w.action("actionPause")->trigger();
  EXPECT_FALSE(w.session()->paused());
  ASSERT_TRUE(waitFor([&] { return w.batchesSeen() > held + 2; }, 30000));

  // Stop ends a long run within a second.
  QElapsedTimer stopClock;
  stopClock.start();
  w.action("actionStop")->trigger();
  ASSERT_TRUE(waitFor([&] { return ended; }, 5000));
  EXPECT_LT(stopClock.elapsed(), 1000);
  EXPECT_EQ(w.lastEnd()->reason, EndReason::Stopped);
  {
    ExperimentStore store(w.databasePath().toStdString());
    EXPECT_EQ(store.run(w.lastEnd()->run_id).status, RunStatus::Stopped);
  }

  // Two runs selected: two overlaid curves.
  runs->refresh();
  ASSERT_EQ(runs->runCount(), 2);
  std::vector<int64_t> both;
  {
    ExperimentStore store(w.databasePath().toStdString());
    for (const auto& r : store.list_runs()) both.push_back(r.run.id);
  }
  runs->selectRuns(both);
  EXPECT_EQ(runs->selectedRuns().size(), 2u);
  EXPECT_EQ(runs->overlayPlot()->seriesNames().size(), 2);

  // Delete the stopped run (no dialog in tests).
  const int before = runs->runCount();
  ASSERT_TRUE(runs->deleteRun(w.lastEnd()->run_id, false));
  EXPECT_EQ(runs->runCount(), before - 1);
}

// Responsiveness: during several epochs (live snapshots, per-epoch
// predictions in the background) a 20 ms UI-thread timer keeps ticking.
TEST(Studio, UiStaysResponsiveDuringTraining) {
  StudioOptions o = testOptions("heartbeat");
  o.snapshotEvery = 1;  // as many live snapshots as the hook's throttle allows
  MainWindow w(o);
  w.show();
  configure(w, 4);
  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  QElapsedTimer beat, total;
  qint64 maxGap = 0;
  int ticks = 0;
  QTimer heart;
  heart.setInterval(20);
  QObject::connect(&heart, &QTimer::timeout, [&] {
    maxGap = std::max(maxGap, beat.restart());
    ++ticks;
  });
  // Choose the probe by clicking a sample of another class in the Dataset dock.
  auto* samples = w.datasetPanel()->sampleGrid();
  ASSERT_GT(samples->count(), 20);
  const qint64 probe = samples->item(20).data.toLongLong();
  QTest::mouseClick(samples->view()->viewport(), Qt::LeftButton, {},
                    samples->view()->viewport()->mapFrom(samples, samples->itemRect(20).center()));
  // The Runs view follows the run live: after each epoch it shows the epochs
  // done and the status "running" without a manual refresh.
  QStringList liveEpochs, liveStatus;
  QObject::connect(w.session(), &TrainingSession::epochEnded, [&](const EpochEnd&) {
    auto* m = w.runsPanel()->proxy();
    for (int r = 0; r < m->rowCount(); ++r)
      if (m->index(r, 0).data().toLongLong() == w.currentRunId()) {
        liveEpochs << m->index(r, 6).data().toString();
        liveStatus << m->index(r, 9).data().toString();
      }
  });
  ASSERT_TRUE(w.startTraining());
  beat.start();
  total.start();
  heart.start();
  ASSERT_TRUE(waitFor([&] { return ended; }, 120000));
  EXPECT_EQ(liveEpochs.join(" ").toStdString(), "1/4 2/4 3/4 4/4");
  EXPECT_EQ(liveStatus.mid(0, 3).join(" ").toStdString(), "running running running");
  // Include the Inspect predictions of the last epoch.
  ASSERT_TRUE(waitFor([&] { return w.inspectPanel()->predictions() && !w.inspectPanel()->busy(); }, 30000));
  heart.stop();
  const qint64 ms = total.elapsed();
  std::printf("heartbeat: %d ticks in %lld ms, largest gap %lld ms, %d live snapshots\n", ticks,
              static_cast<long long>(ms), static_cast<long long>(maxGap), w.livePanel()->snapshotsShown());
  EXPECT_EQ(w.lastEnd()->reason, EndReason::Done);
  EXPECT_EQ(w.epochsSeen(), 4);
  // Alone this stays under ~150 ms; the margin is for a loaded shared machine.
  EXPECT_LT(maxGap, 1000) << "the UI thread stalled";
  EXPECT_GT(ticks, int(ms / 20 / 3)) << "the heartbeat starved";
  EXPECT_GE(w.livePanel()->snapshotsShown(), 4);
  EXPECT_EQ(w.livePanel()->lastProbeIndex(), probe);
}

// Closing the window during training stops the run and marks it in the store.
TEST(Studio, CloseDuringTrainingMarksRunStopped) {
  int64_t runId = 0;
  QString db;
  {
    MainWindow w(testOptions("close"));
    w.show();
    configure(w, 100);
    ASSERT_TRUE(w.startTraining());
    ASSERT_TRUE(waitFor([&] { return w.currentRunId() > 0 && w.batchesSeen() > 0; }, 60000));
    runId = w.currentRunId();
    db = w.databasePath();
    QElapsedTimer t;
    t.start();
    w.close();
    EXPECT_LT(t.elapsed(), 3000);
    EXPECT_FALSE(w.session()->active());
  }
  ExperimentStore store(db.toStdString());
  EXPECT_EQ(store.run(runId).status, RunStatus::Stopped);
}

// A stopped run can be reopened in Inspect from its saved model and resumed
// from its checkpoint.
TEST(Studio, ReopenAndResumeStoppedRun) {
  MainWindow w(testOptions("resume"));
  w.show();
  configure(w, 100);
  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  ASSERT_TRUE(w.startTraining());
  ASSERT_TRUE(waitFor([&] { return w.batchesSeen() >= 3; }, 60000));
  w.stopTraining();
  ASSERT_TRUE(waitFor([&] { return ended; }, 5000));
  const int64_t id = w.lastEnd()->run_id;
  ASSERT_GT(id, 0);

  // Reopen: confusion matrix and misclassified images from the saved model.
  w.livePanel()->confusion()->clear();
  w.openRun(id);
  ASSERT_TRUE(waitFor(
      [&] {
        return w.inspectPanel()->predictions() && !w.inspectPanel()->busy() && w.livePanel()->confusion()->total() > 0;
      },
      30000));
  EXPECT_EQ(w.inspectPanel()->predictions()->size(), 180);
  EXPECT_DOUBLE_EQ(w.livePanel()->confusion()->total(), 180.0);

  // Resume continues the same run.
  ended = false;
  bool resumedBegin = false;
  QObject::connect(w.session(), &TrainingSession::began,
                   [&](const TrainBegin& b) { resumedBegin = b.resumed && b.run_id == id; });
  ASSERT_TRUE(w.resumeRun(id));
  ASSERT_TRUE(waitFor([&] { return resumedBegin && w.batchesSeen() >= 2; }, 60000));
  {
    ExperimentStore store(w.databasePath().toStdString());
    EXPECT_EQ(store.run(id).status, RunStatus::Running);
  }
  w.stopTraining();
  ASSERT_TRUE(waitFor([&] { return ended; }, 5000));
  EXPECT_EQ(w.lastEnd()->run_id, id);
  ExperimentStore store(w.databasePath().toStdString());
  EXPECT_EQ(store.list_runs().size(), 1u);
}

// One press of Train prepares the run once: the Dataset dock's opened data
// is split (not opened again), and Inspect predicts on the very split object
// the trainer trains and validates on - also for a run started from a model
// file whose input (20x20) makes the image folder decode differently.
TEST(Studio, InspectAndTrainerShareOneSplit) {
  MainWindow w(testOptions("onesplit"));
  w.show();
  configure(w, 1);
  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  std::shared_ptr<const PreparedData> trained;  // what the trainer holds, taken while it runs
  QObject::connect(w.session(), &TrainingSession::began, [&] { trained = w.session()->run()->data; });
  auto runAndInspect = [&](const TrainConfig& c) {
    ended = false;
    trained.reset();
    ASSERT_TRUE(w.startTraining(c));
    ASSERT_TRUE(waitFor([&] { return ended; }, 120000));
    ASSERT_EQ(w.lastEnd()->reason, EndReason::Done) << w.lastEnd()->message;
    ASSERT_TRUE(waitFor([&] { return w.inspectPanel()->predictions() && !w.inspectPanel()->busy(); }, 30000));
    ASSERT_TRUE(trained);
  };

  runAndInspect(w.currentConfig());
  EXPECT_EQ(w.inspectPanel()->data().get(), trained.get());  // the same object, not an equal one
  EXPECT_EQ(w.controller()->runData().get(), trained.get());
  EXPECT_EQ(trained->source.train.get(), w.datasetPanel()->source()->train.get());  // opened once
  EXPECT_EQ(w.inspectPanel()->predictions()->size(), int64_t(trained->tv.valid_indices.size()));
  EXPECT_EQ(child<QLabel>(&w, "splitCounts")->text(), QStringLiteral("run: 720 train / 180 valid"));

  // From a model file with another input size.
  nlohmann::json spec = Model::builtin_spec("simplecnn", Shape{1, 20, 20}, 6);
  Rng rng(5);
  auto m = Model::from_spec(spec, rng);
  ModelMeta meta;
  meta.class_names = w.datasetPanel()->source()->class_names;
  const QString from = tempDir().filePath("from20.pmodel");
  save_model(from.toStdString(), *m, meta);
  TrainConfig c = w.currentConfig();
  c.from_model = from.toStdString();
  c.freeze_epochs = 0;
  runAndInspect(c);
  EXPECT_EQ(w.inspectPanel()->data().get(), trained.get());
  EXPECT_EQ(trained->tv.valid_data->sample_shape(), Shape({1, 20, 20}));
  EXPECT_NE(trained->source.train.get(), w.datasetPanel()->source()->train.get());  // 28x28 does not fit
  EXPECT_EQ(w.inspectPanel()->predictions()->size(), 180);
}

// Settings (layout, model, learning rate) survive a restart.
TEST(Studio, SettingsPersist) {
  {
    MainWindow w(testOptions("settings"));
    configure(w, 4, 0.0123);
    child<QComboBox>(&w, "builtinCombo")->setCurrentText(QStringLiteral("lenet5"));
    w.close();
  }
  MainWindow w(testOptions("settings"));
  EXPECT_NEAR(w.trainingPanel()->learningRate(), 0.0123, 1e-9);
  EXPECT_EQ(w.modelPanel()->builtinName(), QStringLiteral("lenet5"));
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() != nullptr; }, 30000));
  EXPECT_EQ(w.datasetPanel()->currentRequest(), QStringLiteral("sample"));
}

// Bad data shows an error naming the path; the window keeps working.
TEST(Studio, BadDatasetShowsErrorNamingTheFile) {
  MainWindow w(testOptions("bad"));
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() != nullptr; }, 30000));
  const QString bogus = tempDir().filePath("not-a-dataset");
  QFile f(bogus);
  ASSERT_TRUE(f.open(QIODevice::WriteOnly));
  f.write("garbage");
  f.close();
  bool failed = false;
  QObject::connect(w.datasetPanel(), &DatasetPanel::datasetFailed, [&] { failed = true; });
  w.datasetPanel()->openDataset(bogus);
  ASSERT_TRUE(waitFor([&] { return failed; }, 20000));
  EXPECT_TRUE(w.datasetPanel()->errorText().contains(QStringLiteral("not-a-dataset")))
      << w.datasetPanel()->errorText().toStdString();
  std::printf("dataset error shown: %s\n", qPrintable(w.datasetPanel()->errorText()));
  EXPECT_EQ(w.datasetPanel()->info().name, "sample");  // the previous data stays
  EXPECT_TRUE(w.action("actionTrain")->isEnabled());
}

namespace {
void writeFile(const QString& path, const QByteArray& bytes) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  QFile f(path);
  ASSERT_TRUE(f.open(QIODevice::WriteOnly)) << path.toStdString();
  f.write(bytes);
}
// Writes a readable 28x28 grey PNG.
void writePng(const QString& path, int shade) {
  QDir().mkpath(QFileInfo(path).absolutePath());
  QImage img(28, 28, QImage::Format_Grayscale8);
  img.fill(shade);
  ASSERT_TRUE(img.save(path)) << path.toStdString();
}
// Opens `path` in the Dataset dock and returns the error shown ("" when it opened).
QString openError(MainWindow& w, const QString& path) {
  bool failed = false, opened = false;
  auto c1 = QObject::connect(w.datasetPanel(), &DatasetPanel::datasetFailed, [&] { failed = true; });
  auto c2 = QObject::connect(w.datasetPanel(), &DatasetPanel::datasetOpened, [&] { opened = true; });
  w.datasetPanel()->openDataset(path);
  EXPECT_TRUE(waitFor([&] { return failed || opened; }, 20000)) << path.toStdString();
  QObject::disconnect(c1);
  QObject::disconnect(c2);
  return failed ? w.datasetPanel()->errorText() : QString();
}
}  // namespace

// Bad data and bad model files through the GUI: each gives a message naming
// the file (or layer and field), the window keeps its previous dataset.
TEST(Studio, BadInputsNameTheFileOrField) {
  MainWindow w(testOptions("badinputs"));
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() != nullptr && !w.datasetPanel()->isLoading(); }, 30000));
  const QString root = tempDir().filePath("bad-inputs");

  // An image folder with an empty class.
  const QString emptyClass = root + "/empty-class";
  for (int i = 0; i < 4; ++i) writePng(emptyClass + QStringLiteral("/cats/%1.png").arg(i), 40 * i);
  QDir().mkpath(emptyClass + "/dogs");
  QString err = openError(w, emptyClass);
  std::printf("empty class: %s\n", qPrintable(err));
  EXPECT_TRUE(err.contains("dogs")) << err.toStdString();

  // A corrupt PNG among good ones.
  const QString corrupt = root + "/corrupt";
  for (int i = 0; i < 4; ++i) {
    writePng(corrupt + QStringLiteral("/a/%1.png").arg(i), 30 * i);
    writePng(corrupt + QStringLiteral("/b/%1.png").arg(i), 200 - 30 * i);
  }
  writeFile(corrupt + "/b/broken.png", QByteArray("\x89PNG\r\n\x1a\n garbage", 18));
  err = openError(w, corrupt);
  std::printf("corrupt png: %s | warnings: %zu\n", qPrintable(err), w.datasetPanel()->info().warnings.size());
  if (err.isEmpty())  // skipped with a warning naming the file is fine too
    EXPECT_TRUE(!w.datasetPanel()->info().warnings.empty() &&
                QString::fromStdString(w.datasetPanel()->info().warnings.front()).contains("broken.png"));
  else
    EXPECT_TRUE(err.contains("broken.png")) << err.toStdString();

  // A folder that is no dataset at all.
  const QString notData = root + "/notes";
  writeFile(notData + "/readme.txt", "hello");
  err = openError(w, notData);
  std::printf("non-dataset folder: %s\n", qPrintable(err));
  EXPECT_TRUE(err.contains("notes")) << err.toStdString();

  // Back to the sample data for the model checks.
  EXPECT_TRUE(openError(w, QStringLiteral("sample")).isEmpty());

  // A model spec with a typo in a field name: the layer and the field are named.
  const QString spec = root + "/typo.json";
  writeFile(
      spec,
      R"({"layers":[{"type":"conv2d","out_channel":8,"kernel":3},{"type":"flatten"},{"type":"linear","out_features":6}]})");
  w.modelPanel()->loadSpec(spec);
  EXPECT_FALSE(w.modelPanel()->isValid());
  std::printf("spec typo: %s\n", qPrintable(w.modelPanel()->firstError()));
  EXPECT_TRUE(w.modelPanel()->firstError().contains("out_channel")) << w.modelPanel()->firstError().toStdString();
  const QString status = child<QLabel>(&w, "modelStatus")->text();
  EXPECT_TRUE(status.contains("typo.json") && status.contains("out_channel")) << status.toStdString();
  EXPECT_FALSE(w.action("actionTrain")->isEnabled());
  const QString badJson = root + "/broken.json";
  writeFile(badJson, "{\"layers\": [");
  EXPECT_FALSE(w.modelPanel()->loadSpec(badJson));
  EXPECT_TRUE(child<QLabel>(&w, "modelStatus")->text().contains("broken.json"));
  child<QComboBox>(&w, "builtinCombo")->setCurrentText(QStringLiteral("mlp"));
  ASSERT_TRUE(w.modelPanel()->isValid());

  // The learning rate cannot be set to 0; a batch larger than the dataset trains.
  child<QDoubleSpinBox>(&w, "learningRate")->setValue(0);
  EXPECT_GT(w.trainingPanel()->learningRate(), 0);
  child<QSpinBox>(&w, "batchSize")->setValue(4096);
  child<QSpinBox>(&w, "epochs")->setValue(1);
  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  ASSERT_TRUE(w.startTraining()) << w.trainingPanel()->statusText().toStdString();
  ASSERT_TRUE(waitFor([&] { return ended; }, 60000));
  std::printf("batch > dataset: %s | %s\n", w.lastEnd()->message.c_str(), qPrintable(w.trainingPanel()->statusText()));
  EXPECT_EQ(w.lastEnd()->reason, EndReason::Done) << w.lastEnd()->message;
}

// The LR finder plots a curve and one click applies its suggestion.
TEST(Studio, LrFinderAppliesSuggestion) {
  MainWindow w(testOptions("lrfind"));
  w.show();
  configure(w, 1, 0.5);
  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  w.action("actionLrFind")->trigger();
  ASSERT_TRUE(waitFor([&] { return ended; }, 120000));
  auto* plot = w.trainingPanel()->lrFinderPlot();
  EXPECT_GT(plot->pointCount(), 10);
  ASSERT_GT(plot->suggestion(), 0);
  ASSERT_TRUE(w.trainingPanel()->applyLrButton()->isEnabled());
  shot(&w, "lr-finder");
  QTest::mouseClick(w.trainingPanel()->applyLrButton(), Qt::LeftButton);
  EXPECT_NEAR(w.trainingPanel()->learningRate(), plot->suggestion(), plot->suggestion() * 0.01);
  {
    ExperimentStore store(w.databasePath().toStdString());
    EXPECT_TRUE(store.list_runs().empty());  // a range test is not a run
  }
  // Training after the sweep brings the activations back in front.
  EXPECT_EQ(w.livePanel()->rightTabs()->currentWidget(), w.trainingPanel()->lrFinderBox());
  ended = false;
  ASSERT_TRUE(w.startTraining());
  EXPECT_EQ(w.livePanel()->rightTabs()->currentIndex(), 0);
  w.stopTraining();
  ASSERT_TRUE(waitFor([&] { return ended; }, 5000));
}

// A tour of every view in both themes for people looking at the UI (not an
// assertion of looks): run with PERCEPTRA_GUI_SHOTS=<dir>; skipped otherwise.
TEST(Studio, ScreenshotTour) {
  if (qEnvironmentVariable("PERCEPTRA_GUI_SHOTS").isEmpty()) GTEST_SKIP() << "set PERCEPTRA_GUI_SHOTS=<dir> to run";
  MainWindow w(testOptions("tour"));
  w.resize(1500, 950);
  w.show();
  configure(w, 2);
  auto both = [&](const char* name, QWidget* part = nullptr) {
    for (const char* theme : {"dark", "light"}) {
      w.setThemeByName(QString::fromLatin1(theme));
      const std::string base = std::string(name) + "-" + theme;
      shot(&w, base.c_str());
      if (part) shot(part, (base + "-part").c_str());
    }
    w.setThemeByName(QStringLiteral("dark"));
  };
  auto raise = [&](const char* dock) {
    if (auto* d = w.findChild<QDockWidget*>(dock)) d->raise();
  };
  raise("datasetDock");
  both("dataset-sample", w.datasetPanel());

  // Model editor with an invalid row.
  raise("modelDock");
  auto* m = w.modelPanel()->tableModel();
  m->setData(m->index(0, LayerTableModel::Arguments), QStringLiteral("out_channels=8, kernel=99"), Qt::EditRole);
  both("model-invalid", w.modelPanel());
  child<QComboBox>(&w, "builtinCombo")->setCurrentText(QStringLiteral("mlp"));
  child<QComboBox>(&w, "builtinCombo")->setCurrentText(QStringLiteral("simplecnn"));

  // LR finder.
  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  w.action("actionLrFind")->trigger();
  ASSERT_TRUE(waitFor([&] { return ended; }, 120000));
  raise("trainingDock");
  both("lr-finder", w.trainingPanel());

  // Live during training, then Inspect with a cell selected.
  ended = false;
  ASSERT_TRUE(w.startTraining());
  ASSERT_TRUE(waitFor([&] { return w.epochsSeen() >= 1 && w.livePanel()->snapshotsShown() > 0; }, 120000));
  both("live-training", w.livePanel());
  ASSERT_TRUE(waitFor([&] { return ended; }, 120000));
  ASSERT_TRUE(waitFor([&] { return w.inspectPanel()->predictions() && !w.inspectPanel()->busy(); }, 30000));
  auto* cm = w.livePanel()->confusion();
  int ct = 0, cp = 1;
  for (int t = 0; t < cm->classCount(); ++t)
    for (int p = 0; p < cm->classCount(); ++p)
      if (t != p && cm->count(t, p) > cm->count(ct, cp)) ct = t, cp = p;
  QTest::mouseClick(cm, Qt::LeftButton, {}, cm->cellRect(ct, cp).center());
  bool detail = false;
  QObject::connect(w.inspectPanel(), &InspectPanel::detailShown, [&] { detail = true; });
  if (!w.inspectPanel()->shownItems().empty()) {
    w.inspectPanel()->selectItem(0);
    waitFor([&] { return detail; }, 20000);
  }
  raise("inspectDock");
  both("inspect-cell", w.inspectPanel());

  // A second short run; Runs with both overlaid; Export status.
  ended = false;
  child<QSpinBox>(&w, "epochs")->setValue(1);
  child<QDoubleSpinBox>(&w, "learningRate")->setValue(0.01);
  ASSERT_TRUE(w.startTraining());
  ASSERT_TRUE(waitFor([&] { return ended; }, 120000));
  auto* runs = w.runsPanel();
  runs->refresh();
  std::vector<int64_t> ids;
  {
    ExperimentStore store(w.databasePath().toStdString());
    for (const auto& r : store.list_runs()) ids.push_back(r.run.id);
  }
  runs->selectRuns(ids);
  if (auto* tabs = w.findChild<QTabWidget*>()) tabs->setCurrentWidget(runs);
  both("runs-overlay", runs);
  QString err;
  ASSERT_TRUE(w.exportOnnx(tempDir().filePath("tour.onnx"), &err)) << err.toStdString();
  both("export");

  // Fashion-MNIST in the Dataset dock.
  if (QFile::exists(QStringLiteral("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))) {
    w.datasetPanel()->openDataset(QStringLiteral("fashion-mnist"));
    ASSERT_TRUE(
        waitFor([&] { return !w.datasetPanel()->isLoading() && w.datasetPanel()->info().name != "sample"; }, 60000))
        << w.datasetPanel()->errorText().toStdString();
    raise("datasetDock");
    both("dataset-fashion", w.datasetPanel());
  }
}

TEST(CommandPalette, FuzzyFilterFindsActions) {
  EXPECT_GT(fuzzyScore("trn", "Train"), 0);
  EXPECT_LT(fuzzyScore("xyz", "Train"), 0);
  EXPECT_GT(fuzzyScore("exo", "Export ONNX…"), fuzzyScore("exo", "Show top losses extra"));
  MainWindow w(testOptions("palette"));
  w.show();
  w.showCommandPalette();
  auto* p = w.commandPalette();
  EXPECT_GE(p->visibleActions().size(), 15);
  p->setFilter(QStringLiteral("onnx"));
  ASSERT_FALSE(p->visibleActions().isEmpty());
  EXPECT_EQ(p->visibleActions().first()->objectName(), QStringLiteral("actionExportOnnx"));
  p->setFilter(QStringLiteral("light"));
  ASSERT_FALSE(p->visibleActions().isEmpty());
  QAction* light = p->visibleActions().first();
  EXPECT_EQ(light->objectName(), QStringLiteral("actionLightTheme"));
  p->triggerCurrent();
  EXPECT_TRUE(light->isChecked());
  EXPECT_EQ(w.action("actionTrain")->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_T));
  EXPECT_EQ(w.action("actionStop")->shortcut(), QKeySequence(Qt::Key_Escape));
  w.setThemeByName(QStringLiteral("dark"));
}

TEST(ModelEditor, RowsRecomputeAndFlagTheOffendingRow) {
  LayerTableModel m;
  m.setSpec(Model::builtin_spec("simplecnn", Shape{1, 28, 28}, 6));
  ASSERT_TRUE(m.isValid()) << m.firstError().toStdString();
  const int rows = m.rowCount();
  const int64_t params = m.totalParameters();
  EXPECT_GT(params, 0);
  // A huge kernel cannot fit a 28x28 input: that row is flagged.
  int conv = -1;
  for (int r = 0; r < rows && conv < 0; ++r)
    if (m.data(m.index(r, LayerTableModel::Type), Qt::DisplayRole).toString().contains("conv")) conv = r;
  ASSERT_GE(conv, 0);
  ASSERT_TRUE(
      m.setData(m.index(conv, LayerTableModel::Arguments), QStringLiteral("out_channels=8, kernel=99"), Qt::EditRole));
  EXPECT_FALSE(m.isValid());
  EXPECT_FALSE(m.data(m.index(conv, LayerTableModel::Index), Qt::ToolTipRole).toString().isEmpty() &&
               m.data(m.index(conv, LayerTableModel::Output), Qt::ToolTipRole).toString().isEmpty());
  ASSERT_TRUE(m.setData(m.index(conv, LayerTableModel::Arguments),
                        QStringLiteral("padding=1, kernel=3, out_channels=8"), Qt::EditRole));
  EXPECT_TRUE(m.isValid()) << m.firstError().toStdString();
  // Sizes first (the narrow column elides the end), the whole text as tooltip, compact shapes.
  EXPECT_EQ(m.data(m.index(conv, LayerTableModel::Arguments), Qt::DisplayRole).toString(),
            QStringLiteral("out_channels=8, kernel=3, padding=1"));
  EXPECT_EQ(m.data(m.index(conv, LayerTableModel::Arguments), Qt::ToolTipRole).toString(),
            QStringLiteral("out_channels=8, kernel=3, padding=1"));
  EXPECT_EQ(m.data(m.index(conv, LayerTableModel::Output), Qt::DisplayRole).toString(), QStringLiteral("8×28×28"));
  EXPECT_NE(m.totalParameters(), params);  // fewer channels, fewer parameters
  m.removeLayer(rows - 1);
  EXPECT_EQ(m.rowCount(), rows - 1);
}

int main(int argc, char** argv) {
  qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("PerceptraTest"));
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
