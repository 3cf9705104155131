// The studio guards the user and tells the truth (issue 14), one test per
// problem a new user hit: no cost estimate or guard; stale views after a
// dataset switch; runs that reopen in pieces and resumed curves without
// their history; silent surprises (one-class data, only the first warning
// shown); no help. Each drives the real window offscreen.
#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QComboBox>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QMessageBox>
#include <QSpinBox>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBrowser>
#include <QTreeWidget>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "app/studio/cost_view.h"
#include "app/studio/current_run.h"
#include "app/studio/dataset_panel.h"
#include "app/studio/help_dialogs.h"
#include "app/studio/inspect_panel.h"
#include "app/studio/live_panel.h"
#include "app/studio/main_window.h"
#include "app/studio/model_panel.h"
#include "app/studio/problems_panel.h"
#include "app/studio/runs_panel.h"
#include "app/studio/studio_controller.h"
#include "app/studio/training_panel.h"
#include "app/studio/training_session.h"
#include "core/store/store.h"
#include "widgets/confusion_matrix_view.h"
#include "widgets/training_plot.h"

using namespace perceptra;
using namespace perceptra::studio;
namespace fs = std::filesystem;

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
  o.restoreLayout = false;
  o.snapshotEvery = 4;
  return o;
}

bool waitFor(const std::function<bool()>& cond, int ms) { return QTest::qWaitFor(cond, ms); }

// Colour PPM images, `per_class` per class folder, h x w pixels.
QString makePhotos(const QString& tag, int classes, int per_class, int h, int w) {
  const fs::path dir = fs::path(tempDir().filePath(tag).toStdString());
  for (int c = 0; c < classes; ++c) {
    fs::create_directories(dir / ("class_" + std::to_string(c)));
    for (int i = 0; i < per_class; ++i) {
      std::ofstream f(dir / ("class_" + std::to_string(c)) / ("img_" + std::to_string(i) + ".ppm"), std::ios::binary);
      f << "P6\n" << w << " " << h << "\n255\n";
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          for (int ch = 0; ch < 3; ++ch)
            f.put(char(((x + y * 3 + c * 40 + ch * 17 + i) % 200) + (ch == c % 3 ? 55 : 0)));
    }
  }
  return QString::fromStdString(dir.string());
}

void waitForDataset(MainWindow& w) {
  ASSERT_TRUE(waitFor([&] { return w.datasetPanel()->source() && !w.datasetPanel()->isLoading(); }, 60000))
      << w.datasetPanel()->errorText().toStdString();
}

void chooseModel(MainWindow& w, const QString& name, int batch, double lr, int epochs) {
  w.findChild<QComboBox*>(QStringLiteral("builtinCombo"))->setCurrentText(name);
  ASSERT_TRUE(w.modelPanel()->isValid()) << w.modelPanel()->firstError().toStdString();
  w.findChild<QDoubleSpinBox*>(QStringLiteral("learningRate"))->setValue(lr);
  w.findChild<QSpinBox*>(QStringLiteral("batchSize"))->setValue(batch);
  w.findChild<QSpinBox*>(QStringLiteral("epochs"))->setValue(epochs);
}

bool problemsContain(MainWindow& w, const QString& needle) {
  for (int i = 0; i < w.problemsPanel()->count(); ++i)
    if (w.problemsPanel()->text(i).contains(needle)) return true;
  return false;
}

// Trains to the end; returns the run id.
int64_t trainToEnd(MainWindow& w) {
  bool ended = false;
  auto c = QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  EXPECT_TRUE(w.startTraining());
  EXPECT_TRUE(waitFor([&] { return ended; }, 180000)) << "training did not end";
  QObject::disconnect(c);
  return w.lastEnd() ? w.lastEnd()->run_id : 0;
}

struct LimitGuard {
  explicit LimitGuard(const QByteArray& mb) { qputenv("PERCEPTRA_MEMORY_LIMIT_MB", mb); }
  ~LimitGuard() { qunsetenv("PERCEPTRA_MEMORY_LIMIT_MB"); }
};

}  // namespace

// 1. A photo folder at 3x600x640 on SimpleCNN at batch 128: the estimate is
// shown before training (parameters, activations, peak) and, on a machine
// with 4 GB for the run (the limit the test sets), Train is refused with the
// numbers and a suggestion; nothing starts.
TEST(Guard, EstimateShownAndOverMemoryRunRefused) {
  LimitGuard limit("4096");
  MainWindow w(testOptions("estimate"));
  w.show();
  waitForDataset(w);
  const QString photos = makePhotos("big-photos", 2, 3, 600, 640);
  w.datasetPanel()->openDataset(photos);
  ASSERT_TRUE(
      waitFor([&] { return w.datasetPanel()->currentRequest() == photos && !w.datasetPanel()->isLoading(); }, 60000));
  ASSERT_TRUE(w.datasetPanel()->setImageSize(QStringLiteral("600x640"), QStringLiteral("crop")));
  ASSERT_TRUE(waitFor(
      [&] {
        auto s = w.datasetPanel()->source();
        return s && !w.datasetPanel()->isLoading() && s->train->sample_shape() == Shape({3, 600, 640});
      },
      60000));
  chooseModel(w, QStringLiteral("simplecnn"), 128, 0.01, 1);
  w.updateEstimate();

  // Shown in both docks, with the numbers.
  for (CostView* v : {w.modelPanel()->costView(), w.trainingPanel()->costView()}) {
    ASSERT_TRUE(v->estimate().has_value()) << v->text().toStdString();
    EXPECT_GT(v->estimate()->model.parameters, 100'000'000);  // the 196 M model of the report
    EXPECT_EQ(v->estimate()->verdict, CostVerdict::TooLarge);
    EXPECT_TRUE(v->text().contains(QStringLiteral("parameters"))) << v->text().toStdString();
    EXPECT_TRUE(v->text().contains(QStringLiteral("peak memory"))) << v->text().toStdString();
    EXPECT_TRUE(v->text().contains(QStringLiteral("too large"))) << v->text().toStdString();
  }

  // Refused: nothing starts, the reason is on screen and kept.
  EXPECT_FALSE(w.startTraining());
  EXPECT_FALSE(w.session()->active());
  EXPECT_TRUE(problemsContain(w, QStringLiteral("memory"))) << "the refusal is not in the Problems panel";
  EXPECT_TRUE(problemsContain(w, QStringLiteral("--image-size")) || problemsContain(w, QStringLiteral("--batch-size")));
  auto* box = w.findChild<QMessageBox*>(QStringLiteral("refusalBox"));
  ASSERT_NE(box, nullptr);
  EXPECT_TRUE(box->text().contains(QStringLiteral("4.3 GB"))) << box->text().toStdString();  // the limit, in the text
  box->close();

  // The LR finder is guarded the same way.
  EXPECT_FALSE(w.startLrFinder());
  EXPECT_FALSE(w.session()->active());
}

// A large but possible run asks once: declined, nothing starts; accepted,
// it starts; the same run again is not asked about a second time.
TEST(Guard, LargeRunAsksOnce) {
  MainWindow w(testOptions("large"));
  w.show();
  waitForDataset(w);
  chooseModel(w, QStringLiteral("simplecnn"), 32, 0.05, 1);
  auto e = w.controller()->estimate(w.currentConfig(), *w.datasetPanel()->source());
  ASSERT_TRUE(e.has_value());
  // A limit the run fills to 80 %: large, not too large.
  LimitGuard limit(QByteArray::number(qlonglong(double(e->peak_train_bytes) / 0.8 / (1 << 20))));
  int asked = 0;
  bool answer = false;
  w.setAskHandler([&](const QString&, const QString& text) {
    ++asked;
    EXPECT_TRUE(text.contains(QStringLiteral("memory"))) << text.toStdString();
    return answer;
  });
  EXPECT_FALSE(w.startTraining());
  EXPECT_EQ(asked, 1);
  EXPECT_FALSE(w.session()->active());
  answer = true;
  ASSERT_TRUE(w.startTraining());
  EXPECT_EQ(asked, 2);
  w.stopTraining();
  ASSERT_TRUE(waitFor([&] { return !w.session()->active(); }, 60000));
  ASSERT_TRUE(w.startTraining());
  EXPECT_EQ(asked, 2) << "asked again about a run already accepted";
  w.stopTraining();
  ASSERT_TRUE(waitFor([&] { return !w.session()->active(); }, 60000));
}

// 2. Switching dataset after a run clears the views that belonged to it:
// no confusion matrix relabelled with the new classes, no old Inspect images.
TEST(Guard, SwitchingDatasetClearsTheOldRunsViews) {
  MainWindow w(testOptions("switch"));
  w.show();
  waitForDataset(w);
  chooseModel(w, QStringLiteral("mlp"), 64, 0.05, 1);
  trainToEnd(w);
  ASSERT_TRUE(waitFor([&] { return w.inspectPanel()->predictions() && !w.inspectPanel()->busy(); }, 60000));
  auto* cm = w.livePanel()->confusion();
  ASSERT_EQ(cm->classCount(), 6);
  EXPECT_GT(w.livePanel()->lossPlot()->pointCount(widgets::TrainingPlot::kTrainLoss), 0);

  const QString other = makePhotos("three-classes", 3, 6, 24, 24);
  w.datasetPanel()->openDataset(other);
  ASSERT_TRUE(
      waitFor([&] { return w.datasetPanel()->currentRequest() == other && !w.datasetPanel()->isLoading(); }, 60000));
  EXPECT_EQ(cm->classCount(), 0) << "the old run's matrix is still shown";
  EXPECT_TRUE(cm->classNames().isEmpty()) << cm->classNames().join(',').toStdString();
  EXPECT_EQ(w.inspectPanel()->predictions(), nullptr) << "Inspect still shows the old run's images";
  EXPECT_EQ(w.livePanel()->lossPlot()->pointCount(widgets::TrainingPlot::kTrainLoss), 0);
  EXPECT_TRUE(w.currentRun()->empty());
}

// 3a. Reopening a run loads it everywhere at once: curves, hyper-parameters,
// confusion matrix and Inspect all belong to the run opened, not the last one.
TEST(Guard, ReopeningARunLoadsItEverywhere) {
  MainWindow w(testOptions("reopen"));
  w.show();
  waitForDataset(w);
  chooseModel(w, QStringLiteral("mlp"), 64, 0.05, 1);
  const int64_t first = trainToEnd(w);
  const int firstPoints = w.livePanel()->lossPlot()->pointCount(widgets::TrainingPlot::kTrainLoss);
  ASSERT_GT(firstPoints, 0);
  chooseModel(w, QStringLiteral("mlp"), 32, 0.02, 1);
  const int64_t second = trainToEnd(w);
  ASSERT_NE(first, second);
  ASSERT_TRUE(waitFor([&] { return w.inspectPanel()->predictions() && !w.inspectPanel()->busy(); }, 60000));

  w.runsPanel()->refresh();
  emit w.runsPanel()->openRequested(first);
  ASSERT_TRUE(waitFor([&] { return w.currentRun()->id() == first; }, 60000));
  ASSERT_TRUE(waitFor(
      [&] {
        return w.inspectPanel()->predictions() && !w.inspectPanel()->busy() && w.livePanel()->confusion()->total() > 0;
      },
      60000));
  // Hyper-parameters of run `first`.
  EXPECT_EQ(w.findChild<QSpinBox*>(QStringLiteral("batchSize"))->value(), 64);
  EXPECT_NEAR(w.trainingPanel()->learningRate(), 0.05, 1e-6);
  // Its curves: as many batch points as it trained (180 valid of 900, 720 / 64 = 12 batches).
  EXPECT_EQ(w.livePanel()->lossPlot()->pointCount(widgets::TrainingPlot::kTrainLoss), firstPoints);
  EXPECT_EQ(w.livePanel()->accuracyPlot()->pointCount(widgets::TrainingPlot::kValidAccuracy), 1);
  // Its matrix and Inspect data, on its validation split.
  EXPECT_EQ(w.livePanel()->confusion()->total(), double(w.inspectPanel()->predictions()->size()));
  EXPECT_EQ(w.currentRun()->view().title.contains(QString::number(first)), true);
}

// 3b. A resumed run shows its whole loss history: the curve starts at step 0,
// not at the resume step, and the continuation appends to it.
TEST(Guard, ResumedRunKeepsItsHistory) {
  MainWindow w(testOptions("resume"));
  w.show();
  waitForDataset(w);
  chooseModel(w, QStringLiteral("mlp"), 32, 0.05, 3);
  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  ASSERT_TRUE(w.startTraining());
  ASSERT_TRUE(waitFor([&] { return w.epochsSeen() >= 1; }, 120000));
  w.stopTraining();
  ASSERT_TRUE(waitFor([&] { return ended; }, 60000));
  const int64_t id = w.lastEnd()->run_id;
  const auto before = w.livePanel()->lossPlot()->seriesX(widgets::TrainingPlot::kTrainLoss);
  ASSERT_GT(before.size(), 20u);

  ended = false;
  ASSERT_TRUE(w.resumeRun(id));
  ASSERT_TRUE(waitFor([&] { return w.batchesSeen() >= 2; }, 120000));
  const auto after = w.livePanel()->lossPlot()->seriesX(widgets::TrainingPlot::kTrainLoss);
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.front(), 0.0) << "the resumed curve starts at step " << after.front();
  // One point per step: the history up to the checkpoint, then the live steps.
  for (size_t i = 1; i < after.size(); ++i) ASSERT_GT(after[i], after[i - 1]) << "step " << after[i] << " twice";
  EXPECT_GE(after.size(), size_t(w.batchesSeen()) + 20);
  // The validation accuracy of the first epoch is there too.
  EXPECT_GE(w.livePanel()->accuracyPlot()->pointCount(widgets::TrainingPlot::kValidAccuracy), 1);
  w.stopTraining();
  ASSERT_TRUE(waitFor([&] { return ended; }, 60000));
}

// 3c. Progress that is never a lie: a speed under one image/s reads as
// seconds per batch, the ETA comes from this session's rate (after a
// resume too), and a stop before any validation shows no "best accuracy".
TEST(Guard, ProgressTellsTheTruth) {
  MainWindow w(testOptions("progress"));
  TrainingPanel* t = w.trainingPanel();
  // 0.3 images/s at batch 16: the old panel said "0 images/s".
  t->setProgress(0, 1, 2, 38, 0.3, 107, 2, 16);
  EXPECT_TRUE(t->rateText().contains(QStringLiteral("s per batch"))) << t->rateText().toStdString();
  EXPECT_FALSE(t->rateText().startsWith(QStringLiteral("0 "))) << t->rateText().toStdString();
  EXPECT_EQ(t->etaText(), QStringLiteral("ETA 32 min 06 s"));  // 36 batches left x 53.5 s
  // Resumed in epoch 3 of 4 (10 batches each): 5 batches in 10 s this
  // session, 15 left -> 30 s (the old formula, on the whole run's fraction
  // done, said 6 s).
  t->setProgress(2, 4, 5, 10, 50, 10, 5, 10);
  EXPECT_EQ(t->etaText(), QStringLiteral("ETA 30 s"));

  w.show();
  waitForDataset(w);
  chooseModel(w, QStringLiteral("simplecnn"), 32, 0.05, 1);
  bool ended = false;
  QObject::connect(&w, &MainWindow::trainingEnded, [&] { ended = true; });
  ASSERT_TRUE(w.startTraining());
  ASSERT_TRUE(waitFor([&] { return w.batchesSeen() >= 1; }, 60000));
  w.stopTraining();
  ASSERT_TRUE(waitFor([&] { return ended; }, 60000));
  ASSERT_EQ(w.lastEnd()->epochs_completed, 0);
  const QString status = w.findChild<QLabel*>(QStringLiteral("trainStatus"))->text();
  EXPECT_FALSE(status.contains(QStringLiteral("best validation accuracy"))) << status.toStdString();
  EXPECT_TRUE(status.contains(QStringLiteral("no validation pass"))) << status.toStdString();
}

// 4a. A one-class dataset says so (it would train to "100 %").
TEST(Guard, OneClassDatasetWarns) {
  MainWindow w(testOptions("oneclass"));
  w.show();
  waitForDataset(w);
  const QString one = makePhotos("one-class", 1, 5, 16, 16);
  w.datasetPanel()->openDataset(one);
  ASSERT_TRUE(
      waitFor([&] { return w.datasetPanel()->currentRequest() == one && !w.datasetPanel()->isLoading(); }, 60000));
  ASSERT_NE(w.datasetPanel()->source(), nullptr) << w.datasetPanel()->errorText().toStdString();
  EXPECT_TRUE(problemsContain(w, QStringLiteral("one class"))) << "no one-class warning";
  EXPECT_EQ(w.problemsPanel()->count(ProblemsPanel::Level::Warning), 1);
}

// 4b. Every dataset warning is listed (the old panel showed the first),
// each with the files it names; a rejected model file is reported beyond
// the Model tab.
TEST(Guard, AllWarningsListedWithTheirFiles) {
  MainWindow w(testOptions("warnings"));
  w.show();
  waitForDataset(w);
  const QString dir = makePhotos("messy", 2, 4, 16, 16);
  const fs::path root(dir.toStdString());
  std::ofstream(root / "notes.txt") << "loose";
  std::ofstream(root / "class_0" / "readme.md") << "x";
  std::ofstream(root / "class_1" / "broken.png") << "not a png";
  std::ofstream(root / "class_1" / "empty.jpg") << "";
  w.datasetPanel()->openDataset(dir);
  ASSERT_TRUE(
      waitFor([&] { return w.datasetPanel()->currentRequest() == dir && !w.datasetPanel()->isLoading(); }, 60000));
  auto src = w.datasetPanel()->source();
  ASSERT_NE(src, nullptr) << w.datasetPanel()->errorText().toStdString();
  ASSERT_GE(src->warnings.size(), 4u);
  for (const auto& warn : src->warnings) EXPECT_TRUE(problemsContain(w, QString::fromStdString(warn))) << warn;
  for (const char* f : {"notes.txt", "readme.md", "broken.png", "empty.jpg"})
    EXPECT_TRUE(problemsContain(w, QString::fromLatin1(f))) << f;
  // The files named are listed per entry.
  bool brokenListed = false;
  for (int i = 0; i < w.problemsPanel()->count(); ++i)
    for (const QString& f : w.problemsPanel()->files(i)) brokenListed |= f.endsWith(QStringLiteral("broken.png"));
  EXPECT_TRUE(brokenListed);
  EXPECT_TRUE(w.findChild<QDockWidget*>(QStringLiteral("problemsDock"))->windowTitle().contains(QStringLiteral("(")));

  // "Load model spec..." with a file that is not one: reported in Problems.
  const QString bad = tempDir().filePath(QStringLiteral("bad.pmodel"));
  std::ofstream(bad.toStdString()) << "garbage";
  const int before = w.problemsPanel()->count();
  EXPECT_FALSE(w.modelPanel()->loadSpec(bad));
  EXPECT_EQ(w.problemsPanel()->count(), before + 1);
  EXPECT_TRUE(w.problemsPanel()->text(before).contains(QStringLiteral("bad.pmodel")));
  if (auto* box = w.findChild<QMessageBox*>(QStringLiteral("refusalBox"))) box->close();
}

// 4c. What a run adapts on the user's behalf reaches the Problems panel
// (the engine's notes: here the estimate and the split).
TEST(Guard, RunNotesReachTheProblemsPanel) {
  MainWindow w(testOptions("notes"));
  w.show();
  waitForDataset(w);
  chooseModel(w, QStringLiteral("mlp"), 64, 0.05, 1);
  trainToEnd(w);
  EXPECT_TRUE(problemsContain(w, QStringLiteral("cost estimate"))) << "the run's notes are not kept";
}

// 5. Help: the shortcut sheet lists every action that has a shortcut (it is
// generated from them), Getting started, the offline README, About with
// the build; the runs table and the layer list have context menus.
TEST(Guard, HelpAndContextMenus) {
  MainWindow w(testOptions("help"));
  w.show();
  waitForDataset(w);
  auto* sheet = qobject_cast<ShortcutSheet*>(w.showShortcutSheet());
  ASSERT_NE(sheet, nullptr);
  QStringList shown;
  for (int r = 0; r < sheet->table()->rowCount(); ++r)
    shown << sheet->table()->item(r, 0)->text() + QLatin1Char('|') + sheet->table()->item(r, 1)->text();
  int withShortcut = 0;
  for (QAction* a : w.findChildren<QAction*>()) {
    if (a->shortcut().isEmpty()) continue;
    ++withShortcut;
    const QString cmd = QString(a->text()).remove('&').remove(QStringLiteral("…")).trimmed();
    const QString key = a->shortcut().toString(QKeySequence::NativeText);
    bool found = false;
    for (const QString& s : shown) found |= s.startsWith(cmd + '|') && s.contains(key);
    EXPECT_TRUE(found) << "shortcut sheet lacks " << cmd.toStdString() << " (" << key.toStdString() << ")";
  }
  EXPECT_GE(withShortcut, 12);
  EXPECT_NE(w.action(QStringLiteral("actionShortcuts")), nullptr);

  auto* guide = w.showGettingStarted();
  auto* guideText = guide->findChild<QTextBrowser*>();
  ASSERT_NE(guideText, nullptr);
  for (const char* step : {"Dataset", "Model", "Train", "Inspect", "Export"})
    EXPECT_TRUE(guideText->toPlainText().contains(QString::fromLatin1(step))) << step;
  auto* readme = w.showReadme()->findChild<QTextBrowser*>();
  ASSERT_NE(readme, nullptr);
  EXPECT_TRUE(readme->toPlainText().contains(QStringLiteral("Perceptra")));
  EXPECT_GT(readme->toPlainText().size(), 2000);
  EXPECT_FALSE(readme->openExternalLinks());
  auto* about = w.showAbout()->findChild<QTextBrowser*>();
  ASSERT_NE(about, nullptr);
  for (const char* k : {"Version", "CUDA", "oneDNN", "Compiler"})
    EXPECT_TRUE(about->toPlainText().contains(QString::fromLatin1(k))) << k;

  // Context menus: a layer row and a run row.
  std::unique_ptr<QMenu> layerMenu(w.modelPanel()->layerMenu(0));
  ASSERT_NE(layerMenu->findChild<QAction*>(QStringLiteral("actionLayerActivations")), nullptr);
  ASSERT_NE(layerMenu->findChild<QAction*>(QStringLiteral("actionCopyLayerName")), nullptr);
  chooseModel(w, QStringLiteral("mlp"), 64, 0.05, 1);
  const int64_t id = trainToEnd(w);
  w.runsPanel()->refresh();
  std::unique_ptr<QMenu> runMenu(w.runsPanel()->runMenu(id));
  for (const char* a : {"actionRunOpen", "actionRunInspect", "actionRunResume", "actionRunCopyId", "actionRunCopyPath",
                        "actionRunReveal", "actionRunDelete"})
    EXPECT_NE(runMenu->findChild<QAction*>(QString::fromLatin1(a)), nullptr) << a;
  EXPECT_TRUE(runMenu->findChild<QAction*>(QStringLiteral("actionRunOpen"))->isEnabled());
  EXPECT_FALSE(runMenu->findChild<QAction*>(QStringLiteral("actionRunResume"))->isEnabled());  // finished
  runMenu->findChild<QAction*>(QStringLiteral("actionRunCopyId"))->trigger();
  EXPECT_EQ(QApplication::clipboard()->text(), QString::number(id));
  const QString folder = w.runsPanel()->runFolder(id);
  EXPECT_TRUE(QFileInfo(folder).isDir()) << folder.toStdString();
  runMenu->findChild<QAction*>(QStringLiteral("actionRunCopyPath"))->trigger();
  EXPECT_EQ(QApplication::clipboard()->text(), folder);
}

int main(int argc, char** argv) {
  qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("PerceptraTest"));
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
