// Issue 19's studio pieces (offscreen): the Runs view groups runs by sweep
// (a Sweep column; "Group by sweep" puts each sweep's trials together in
// trial order, runs of no sweep stay plain rows); the Training panel's
// "Sweep…" button opens the sweep dialog; a run another process trains
// (perceptra-cli here) is watched live from its store, read-only, its
// curves and progress refreshed by polling until the run ends.
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStandardItemModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "app/studio/main_window.h"
#include "app/studio/run_watch.h"
#include "app/studio/runs_panel.h"
#include "app/studio/sweep_dialog.h"
#include "app/studio/training_panel.h"
#include "core/backend/backend.h"
#include "core/store/store.h"
#include "tests/train/tiny_data.h"
#include "widgets/training_plot.h"

namespace fs = std::filesystem;
using namespace perceptra;
using namespace perceptra::studio;

namespace {

QString grabDir() { return qEnvironmentVariable("PERCEPTRA_GRAB_DIR"); }

int64_t make_run(ExperimentStore& st, const std::string& name, std::optional<int64_t> sweep = {}, int trial = -1) {
  NewRun nr;
  nr.name = name;
  nr.hparams = {{"optimizer", {{"lr", 0.01}}}, {"batch_size", 32}, {"epochs", 2}};
  const int64_t id = st.create_run(nr);
  if (sweep) st.set_run_trial(id, *sweep, trial, {{"optimizer.lr", 0.01 * (trial + 1)}});
  st.add_metric(id, 10, 0, "valid_accuracy", 0.5);
  st.finish_run(id, RunStatus::Finished);
  return id;
}

}  // namespace

TEST(RunsPanelSweeps, GroupsRunsBySweepInTrialOrder) {
  const std::string dir = test::make_temp_dir("runsgroup");
  const std::string db = dir + "/r.db";
  std::vector<int64_t> a, b;
  int64_t plain1 = 0, plain2 = 0, sa = 0, sb = 0;
  {
    ExperimentStore st(db);
    nlohmann::json spec = {{"base", {{"data", "sample"}}}, {"grid", {{"optimizer.lr", {0.01, 0.02, 0.03}}}}};
    plain1 = make_run(st, "plain-1");
    sa = st.create_sweep("alpha", spec);
    sb = st.create_sweep("beta", spec);
    // Created interleaved and out of trial order, as parallel trials are.
    a.resize(3);
    b.resize(2);
    a[2] = make_run(st, "alpha/t2", sa, 2);
    b[1] = make_run(st, "beta/t1", sb, 1);
    a[0] = make_run(st, "alpha/t0", sa, 0);
    plain2 = make_run(st, "plain-2");
    b[0] = make_run(st, "beta/t0", sb, 0);
    a[1] = make_run(st, "alpha/t1", sa, 1);
  }
  RunsPanel p;
  p.resize(1400, 700);
  p.show();
  p.setDatabasePath(db);
  ASSERT_EQ(p.runCount(), 7);
  auto* proxy = p.proxy();
  auto idAt = [&](int row) { return proxy->index(row, RunsPanel::Id).data().toLongLong(); };
  auto sweepText = [&](int row) { return proxy->index(row, RunsPanel::SweepCol).data().toString(); };
  EXPECT_EQ(proxy->headerData(RunsPanel::SweepCol, Qt::Horizontal).toString(), "Sweep");
  for (int r = 0; r < proxy->rowCount(); ++r) {
    const int64_t id = idAt(r);
    if (id == plain1 || id == plain2)
      EXPECT_TRUE(sweepText(r).isEmpty()) << "a run of no sweep stays a plain row";
    else
      EXPECT_TRUE(sweepText(r).contains(QString("#%1 · t").arg(std::count(a.begin(), a.end(), id) ? sa : sb)))
          << sweepText(r).toStdString();
  }
  // Grouped: the newest sweep first, each sweep's trials in trial order,
  // then the runs of no sweep.
  p.groupBySweepBox()->setChecked(true);
  std::vector<int64_t> order;
  for (int r = 0; r < proxy->rowCount(); ++r) order.push_back(idAt(r));
  ASSERT_EQ(order.size(), 7u);
  EXPECT_EQ(std::vector<int64_t>(order.begin(), order.begin() + 5),
            (std::vector<int64_t>{b[0], b[1], a[0], a[1], a[2]}));
  EXPECT_EQ(std::set<int64_t>(order.begin() + 5, order.end()), (std::set<int64_t>{plain1, plain2}));
  EXPECT_EQ(sweepText(0), QString("beta #%1 · t0").arg(sb));
  if (!grabDir().isEmpty()) p.grab().save(grabDir() + "/runs_grouped.png");
  // The filter finds a sweep's trials by its name.
  p.filterEdit()->setText("alpha");
  EXPECT_EQ(proxy->rowCount(), 3);
  p.filterEdit()->clear();
  // Ungrouped: back to newest id first.
  p.groupBySweepBox()->setChecked(false);
  EXPECT_EQ(idAt(0), a[1]);
  fs::remove_all(dir);
}

TEST(RunWatch, FollowsARunTheCliTrainsReadOnlyUntilItEnds) {
  const std::string dir = test::make_temp_dir("runwatch");
  const std::string data = test::make_tiny_dataset(dir + "/data", 3, 40, 12);
  std::ofstream(dir + "/tiny.json") << test::tiny_mlp_spec().dump();
  const QString db = QString::fromStdString(dir + "/w.db");
  QProcess cli;
  cli.setProgram(PERCEPTRA_CLI);
  cli.setArguments({"train",
                    "--data",
                    QString::fromStdString(data),
                    "--model",
                    QString::fromStdString(dir + "/tiny.json"),
                    "--epochs",
                    "400",
                    "--batch-size",
                    "8",
                    "--lr",
                    "0.02",
                    "--device",
                    "cpu",
                    "--threads",
                    "1",
                    "--db",
                    db,
                    "--out",
                    QString::fromStdString(dir + "/runs"),
                    "--quiet",
                    "--no-ledger"});
  cli.start();
  ASSERT_TRUE(cli.waitForStarted(10000));
  // The run appears in the store the CLI writes.
  int64_t run = 0;
  ASSERT_TRUE(QTest::qWaitFor(
      [&] {
        RunWatchSnapshot s = read_run_snapshot(db.toStdString(), 1);
        if (s.ok && s.epochs_done >= 1) run = 1;
        return run > 0;
      },
      60000))
      << "the CLI recorded no epoch: " << cli.readAllStandardError().toStdString();

  // The event loop keeps running while the watcher reads: the largest gap
  // between two ticks of a 5 ms timer stays far below a blocking read's.
  int ticks = 0;
  qint64 maxGap = 0;
  QElapsedTimer sinceTick;
  QTimer tick;
  QObject::connect(&tick, &QTimer::timeout, [&] {
    if (ticks++ > 0) maxGap = std::max(maxGap, sinceTick.elapsed());
    sinceTick.restart();
  });
  tick.start(5);
  RunWatchDialog d(db, run, nullptr, 150);
  d.show();
  RunWatcher* w = d.watcher();
  EXPECT_TRUE(w->active());
  ASSERT_TRUE(QTest::qWaitFor([&] { return w->reads() >= 1; }, 10000));
  const int epochs1 = w->last().epochs_done;
  const size_t losses1 = w->last().loss.size();
  EXPECT_EQ(w->last().status, RunStatus::Running);
  EXPECT_EQ(w->last().epochs, 400);
  // The curves and the progress follow the CLI's later epochs.
  ASSERT_TRUE(QTest::qWaitFor([&] { return w->last().epochs_done >= epochs1 + 2 && w->reads() >= 6; }, 60000));
  EXPECT_GT(w->last().loss.size(), losses1);
  EXPECT_EQ(d.lossPlot()->pointCount(widgets::TrainingPlot::kTrainLoss), int(w->last().loss.size()));
  // Batches on the epoch axis, increasing, within the epochs recorded so far (+1 in progress).
  const auto& xs = w->last().loss_steps;
  ASSERT_FALSE(xs.empty());
  EXPECT_TRUE(std::is_sorted(xs.begin(), xs.end()));
  EXPECT_GT(xs.front(), 0.0);
  EXPECT_LE(xs.back(), double(w->last().epochs_done) + 1.0);
  EXPECT_EQ(d.accuracyPlot()->pointCount(widgets::TrainingPlot::kValidAccuracy), w->last().epochs_done);
  EXPECT_EQ(d.progress()->value(), w->last().epochs_done);
  EXPECT_EQ(d.progress()->maximum(), 400);
  EXPECT_TRUE(d.statusText().contains("running")) << d.statusText().toStdString();
  EXPECT_GT(ticks, 10);
  EXPECT_LT(maxGap, 1000) << "the UI thread was blocked for " << maxGap << " ms";
  if (!grabDir().isEmpty()) d.grab().save(grabDir() + "/run_watch.png");

  // The CLI is stopped (SIGTERM): the watcher sees the run end and stops polling.
  QSignalSpy ended(w, &RunWatcher::ended);
  cli.terminate();
  ASSERT_TRUE(cli.waitForFinished(60000));
  ASSERT_TRUE(QTest::qWaitFor([&] { return ended.count() == 1; }, 20000));
  EXPECT_FALSE(w->active());
  EXPECT_EQ(w->last().status, RunStatus::Stopped);
  EXPECT_TRUE(d.statusText().contains("stopped")) << d.statusText().toStdString();
  // An unknown run or file is said, not fatal.
  RunWatchSnapshot bad = read_run_snapshot(dir + "/nope.db", 1);
  EXPECT_FALSE(bad.ok);
  EXPECT_FALSE(fs::exists(dir + "/nope.db")) << "a watch never creates a database";
  EXPECT_FALSE(read_run_snapshot(db.toStdString(), 999).ok);
  fs::remove_all(dir);
}

// The Precision row: f32 by default, bf16 carried into the config and back,
// and offered (enabled) exactly where the CPU backend can run it.
TEST(TrainingPanelPrecision, PrecisionGoesIntoTheConfigAndIsOfferedWhereItRuns) {
  TrainingPanel p;
  auto* box = p.findChild<QComboBox*>("precision");
  ASSERT_NE(box, nullptr);
  TrainConfig c;
  p.applyTo(c);
  EXPECT_EQ(c.precision, "f32");
  const int bf16 = box->findData("bf16");
  ASSERT_GE(bf16, 0);
  const std::string why = backend_for(Device::cpu()).precision_unavailable(Precision::BF16);
  auto* items = qobject_cast<QStandardItemModel*>(box->model());
  ASSERT_NE(items, nullptr);
  EXPECT_EQ(items->item(bf16)->isEnabled(), why.empty());
  TrainConfig from;
  from.precision = "bf16";
  p.setFrom(from);
  TrainConfig back;
  p.applyTo(back);
  EXPECT_EQ(back.precision, "bf16");
}

TEST(TrainingPanelSweep, SweepButtonOpensTheSweepDialog) {
  QTemporaryDir tmp;
  StudioOptions o;
  o.dbPath = tmp.filePath("s.db");
  o.runsDir = tmp.filePath("runs");
  o.settingsFile = tmp.filePath("s.ini");
  o.initialDataset = QStringLiteral("sample");
  MainWindow w(o);
  w.show();
  QPushButton* b = w.trainingPanel()->sweepButton();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->text(), QString("Sweep…"));
  EXPECT_TRUE(b->isEnabled());
  if (!grabDir().isEmpty()) w.trainingPanel()->grab().save(grabDir() + "/training_panel.png");
  // The same command is in the palette and the Train menu.
  EXPECT_NE(w.findChild<QAction*>("actionNewSweep"), nullptr);
  EXPECT_NE(w.findChild<QAction*>("actionWatchRun"), nullptr);
  bool shown = false;
  QTimer::singleShot(200, [&] {
    auto* d = qobject_cast<SweepDialog*>(QApplication::activeModalWidget());
    shown = d != nullptr;
    if (d) {
      if (!grabDir().isEmpty()) d->grab().save(grabDir() + "/sweep_dialog_from_training.png");
      d->reject();
    }
  });
  QTest::mouseClick(b, Qt::LeftButton);
  EXPECT_TRUE(shown) << "no sweep dialog came up";
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  QApplication app(argc, argv);
  QApplication::setOrganizationName(QStringLiteral("PerceptraTest"));
  return RUN_ALL_TESTS();
}
