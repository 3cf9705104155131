// The Sweeps panel alone (offscreen): a store with a sweep of four trials
// (one early-terminated, one failed) shown as a ranked, sortable table and a
// parallel-coordinates plot; clicking a line selects its trial; the best
// trial opens with one click; a sweep launched from a spec file runs on a
// worker thread and is watched until it ends; a bad spec file is refused.
#include <QApplication>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTest>
#include <gtest/gtest.h>

#include <qcustomplot.h>

#include <filesystem>
#include <fstream>

#include "app/studio/sweep_dialog.h"
#include "app/studio/sweep_trials_model.h"
#include "app/studio/sweeps_panel.h"
#include "core/store/store.h"
#include "tests/train/tiny_data.h"
#include "widgets/parallel_coordinates.h"
#include "widgets/training_plot.h"

namespace fs = std::filesystem;
using namespace perceptra;
using namespace perceptra::studio;

namespace {

struct Fixture {
  std::string dir, db;
  int64_t sweep = 0;
  std::vector<int64_t> runs;  // by trial index
};

// Four trials of lr x batch_size: scores 0.5, 0.9 (best), 0.7 (early
// terminated), none (failed).
Fixture make_store() {
  Fixture f;
  f.dir = test::make_temp_dir("sweepspanel");
  f.db = f.dir + "/s.db";
  ExperimentStore st(f.db);
  nlohmann::json spec = {{"base", {{"data", "sample"}, {"model", "lenet5"}, {"epochs", 2}}},
                         {"grid", {{"optimizer.lr", {0.1, 0.02, 0.003}}, {"batch_size", {32}}}},
                         {"metric", "valid_accuracy"},
                         {"goal", "max"}};
  f.sweep = st.create_sweep("lr-search", spec);
  const double lrs[] = {0.1, 0.02, 0.003, 0.5};
  const double scores[] = {0.5, 0.9, 0.7, -1};
  for (int i = 0; i < 4; ++i) {
    NewRun nr;
    nr.hparams = {{"optimizer", {{"lr", lrs[i]}}}, {"batch_size", 32}};
    int64_t id = st.create_run(nr);
    st.set_run_trial(id, f.sweep, i, {{"optimizer.lr", lrs[i]}, {"batch_size", 32}});
    if (scores[i] >= 0) {
      st.add_metric(id, 10, 0, "valid_accuracy", scores[i] - 0.1);
      st.add_metric(id, 20, 1, "valid_accuracy", scores[i]);
    }
    if (i == 2) {
      st.mark_early_terminated(id);
      st.finish_run(id, RunStatus::Stopped, "early terminated");
    } else {
      st.finish_run(id, scores[i] >= 0 ? RunStatus::Finished : RunStatus::Failed, scores[i] >= 0 ? "" : "bad config");
    }
    f.runs.push_back(id);
  }
  st.finish_sweep(f.sweep, "finished");
  return f;
}

int64_t run_at(SweepsPanel& p, int view_row) {
  return p.trialsProxy()->data(p.trialsProxy()->index(view_row, 0), SweepTrialsModel::RunIdRole).toLongLong();
}

}  // namespace

TEST(SweepsPanel, ShowsTrialsRankedAndSortable) {
  Fixture f = make_store();
  SweepsPanel p;
  p.resize(1200, 700);
  p.show();
  p.setDatabasePath(f.db);
  ASSERT_EQ(p.sweepCount(), 1);
  EXPECT_EQ(p.currentSweep(), f.sweep);
  ASSERT_EQ(p.trialsProxy()->rowCount(), 4);
  // Ranked by the metric, best first; the failed trial (no score) last.
  EXPECT_EQ(run_at(p, 0), f.runs[1]);
  EXPECT_EQ(run_at(p, 1), f.runs[2]);
  EXPECT_EQ(run_at(p, 2), f.runs[0]);
  EXPECT_EQ(run_at(p, 3), f.runs[3]);
  auto* m = p.trialsModel();
  EXPECT_EQ(m->bestRunId(), f.runs[1]);
  EXPECT_EQ(m->data(m->index(m->rowOfRun(f.runs[2]), SweepTrialsModel::State)).toString(), "early_terminated");
  EXPECT_EQ(m->data(m->index(m->rowOfRun(f.runs[3]), SweepTrialsModel::State)).toString(), "failed");
  EXPECT_TRUE(m->data(m->index(m->rowOfRun(f.runs[1]), 0), Qt::BackgroundRole).isValid()) << "best trial marked";
  EXPECT_FALSE(m->data(m->index(m->rowOfRun(f.runs[0]), 0), Qt::BackgroundRole).isValid());
  // The learning-rate column sorts as numbers (0.003 < 0.02 < 0.1 < 0.5), not as text.
  int lrCol = -1;
  for (int c = 0; c < m->columnCount(); ++c)
    if (m->headerData(c, Qt::Horizontal).toString() == "optimizer.lr") lrCol = c;
  ASSERT_GE(lrCol, SweepTrialsModel::FirstParam);
  p.trialsTable()->sortByColumn(lrCol, Qt::AscendingOrder);
  EXPECT_EQ(run_at(p, 0), f.runs[2]);
  EXPECT_EQ(run_at(p, 1), f.runs[1]);
  EXPECT_EQ(run_at(p, 2), f.runs[0]);
  EXPECT_EQ(run_at(p, 3), f.runs[3]);
  // The plot: one line per trial over lr, batch_size and the metric (lr on
  // a log scale: its values span two decades), the best highlighted.
  auto* plot = p.plot();
  EXPECT_EQ(plot->lineCount(), 4);
  EXPECT_EQ(plot->axisCount(), 3);
  EXPECT_EQ(plot->highlighted(), f.runs[1]);
  // The trials' curves: two epochs each for the three scored trials.
  EXPECT_EQ(p.curves()->pointCount(QString("trial 1 (run %1)").arg(f.runs[1])), 2);
  EXPECT_EQ(p.curves()->pointCount(QString("trial 3 (run %1)").arg(f.runs[3])), 0);
  ASSERT_EQ(m->axes().size(), 3u);
  EXPECT_TRUE(m->axes()[1].log) << "axes are sorted by path: batch_size, optimizer.lr";
  // A picture for a person to look at: PERCEPTRA_GRAB_DIR=/tmp/x.
  if (!qEnvironmentVariableIsEmpty("PERCEPTRA_GRAB_DIR"))
    p.grab().save(qEnvironmentVariable("PERCEPTRA_GRAB_DIR") + "/sweeps_panel.png");
  fs::remove_all(f.dir);
}

TEST(SweepsPanel, ClickingALineSelectsTheTrialAndTheBestOpensInOneClick) {
  Fixture f = make_store();
  SweepsPanel p;
  p.resize(1200, 700);
  p.show();
  p.setDatabasePath(f.db);
  ASSERT_TRUE(QTest::qWaitForWindowExposed(&p));
  auto* plot = p.plot();
  // The metric axis point of trial 0 (score 0.5: no other line there).
  QPoint at = plot->pointOf(f.runs[0], plot->axisCount() - 1);
  ASSERT_GE(at.x(), 0);
  EXPECT_EQ(plot->lineAt(at), f.runs[0]);
  QTest::mouseClick(plot->plot(), Qt::LeftButton, {}, at);
  EXPECT_EQ(p.selectedRun(), f.runs[0]);
  EXPECT_EQ(plot->selected(), f.runs[0]);
  // Selecting a row selects the line (and tells the window which run).
  QSignalSpy selected(&p, &SweepsPanel::runSelected);
  p.trialsTable()->selectRow(0);
  EXPECT_EQ(plot->selected(), run_at(p, 0));
  ASSERT_GE(selected.count(), 1);
  EXPECT_EQ(selected.back().front().toLongLong(), run_at(p, 0));
  QSignalSpy open(&p, &SweepsPanel::openRequested);
  for (auto* b : p.findChildren<QPushButton*>())
    if (b->text() == "Open best run") b->click();
  ASSERT_EQ(open.count(), 1);
  EXPECT_EQ(open.front().front().toLongLong(), f.runs[1]);
  fs::remove_all(f.dir);
}

TEST(SweepsPanel, LaunchesASweepFromASpecFileAndWatchesIt) {
  Fixture f = make_store();
  const std::string data = test::make_tiny_dataset(f.dir + "/data", 3, 20, 12);
  std::ofstream(f.dir + "/tiny.json") << test::tiny_mlp_spec().dump();
  nlohmann::json spec = {{"base",
                          {{"data", data},
                           {"model", f.dir + "/tiny.json"},
                           {"epochs", 1},
                           {"batch_size", 16},
                           {"device", "cpu"},
                           {"out_dir", f.dir + "/runs"}}},
                         {"grid", {{"optimizer.lr", {0.01, 0.1}}}},
                         {"metric", "valid_accuracy"},
                         {"name", "from-panel"}};
  std::ofstream(f.dir + "/spec.json") << spec.dump();
  std::ofstream(f.dir + "/bad.json") << "{\"base\": {\"data\": 1}, \"grid\": ";
  SweepsPanel p;
  p.setDatabasePath(f.db);
  QSignalSpy msg(&p, &SweepsPanel::message);
  EXPECT_FALSE(p.startSweep(QString::fromStdString(f.dir + "/bad.json"), 2));
  ASSERT_GE(msg.count(), 1);
  EXPECT_TRUE(msg.back().front().toString().contains("bad.json")) << msg.back().front().toString().toStdString();
  EXPECT_FALSE(p.sweepRunning());

  QSignalSpy done(&p, &SweepsPanel::sweepFinished);
  ASSERT_TRUE(p.startSweep(QString::fromStdString(f.dir + "/spec.json"), 2));
  EXPECT_TRUE(p.sweepRunning());
  EXPECT_FALSE(p.startSweep(QString::fromStdString(f.dir + "/spec.json"), 2)) << "one sweep at a time";
  EXPECT_TRUE(p.isWatching());
  // The UI thread stays free while the worker runs the trials.
  for (int i = 0; i < 2400 && done.count() == 0; ++i) QTest::qWait(50);
  ASSERT_EQ(done.count(), 1) << "the sweep did not end in 120 s";
  EXPECT_EQ(done.front().at(1).toString(), "finished");
  ASSERT_EQ(p.sweepCount(), 2);
  EXPECT_EQ(p.currentSweep(), done.front().at(0).toLongLong());
  EXPECT_EQ(p.trialsProxy()->rowCount(), 2);
  EXPECT_EQ(p.plot()->lineCount(), 2);
  fs::remove_all(f.dir);
}

// The New sweep dialog: parameters over the current settings become the
// spec `perceptra-cli sweep` reads; a bad value is named and keeps the
// dialog open; the accepted spec runs in the panel.
TEST(SweepDialog, BuildsTheSpecNamesBadValuesAndRuns) {
  Fixture f = make_store();
  const std::string data = test::make_tiny_dataset(f.dir + "/data", 3, 20, 12);
  TrainConfig base;
  base.data = data;
  base.model = test::tiny_mlp_spec();
  base.epochs = 1;
  base.batch_size = 16;
  base.device = "cpu";
  base.optimizer.lr = 0.05f;
  base.db_path = "/somewhere/else.db";  // the sweep's own: dropped from the base
  SweepDialog d(base);
  if (!qEnvironmentVariableIsEmpty("PERCEPTRA_GRAB_DIR")) {
    d.show();
    QTest::qWait(50);
    d.grab().save(qEnvironmentVariable("PERCEPTRA_GRAB_DIR") + "/sweep_dialog.png");
  }
  // Starts as a learning-rate search around the current rate.
  nlohmann::json j = d.spec();
  ASSERT_TRUE(j.contains("random")) << j.dump();
  EXPECT_NEAR(j["random"]["optimizer.lr"]["log_uniform"][0].get<double>(), 0.005, 1e-9);
  EXPECT_NEAR(j["random"]["optimizer.lr"]["log_uniform"][1].get<double>(), 0.5, 1e-9);
  EXPECT_EQ(j["trials"], 4);
  EXPECT_FALSE(j["base"].contains("db_path"));

  d.clearParameters();
  d.addParameter("optimizer.lr", "grid", "0.01, 0.1");
  d.addParameter("optimizer.weight_decay", "log_uniform", "abc, 1e-2");
  EXPECT_TRUE(d.problem().contains("parameter 2 (optimizer.weight_decay)")) << d.problem().toStdString();
  d.accept();
  EXPECT_NE(d.result(), QDialog::Accepted);
  EXPECT_FALSE(d.problemLabel()->text().isEmpty());

  d.clearParameters();
  d.addParameter("optimizer.lrr", "grid", "0.01");
  EXPECT_TRUE(d.problem().contains("optimizer.lrr")) << d.problem().toStdString();

  d.clearParameters();
  d.addParameter("optimizer.lr", "grid", "0.01, 0.1");
  d.setMetric("valid_loss");
  d.setEarlyTermination("median", 1);
  d.setName("dialog");
  EXPECT_TRUE(d.problem().isEmpty()) << d.problem().toStdString();
  j = d.spec();
  EXPECT_EQ(j["grid"]["optimizer.lr"], nlohmann::json::parse("[0.01, 0.1]"));
  EXPECT_FALSE(j.contains("random"));
  EXPECT_EQ(j["metric"], "valid_loss");
  EXPECT_EQ(j["early_terminate"]["type"], "median");
  d.accept();
  EXPECT_EQ(d.result(), QDialog::Accepted);

  SweepsPanel p;
  p.setDatabasePath(f.db);
  p.setRunsDir(f.dir + "/dialog-runs");
  QSignalSpy done(&p, &SweepsPanel::sweepFinished);
  ASSERT_TRUE(p.startSweep(j, d.parallel(), "test"));
  for (int i = 0; i < 2400 && done.count() == 0; ++i) QTest::qWait(50);
  ASSERT_EQ(done.count(), 1);
  EXPECT_EQ(done.front().at(1).toString(), "finished");
  EXPECT_EQ(p.trialsProxy()->rowCount(), 2);
  EXPECT_EQ(p.trialsModel()->metric(), "valid_loss");
  EXPECT_TRUE(fs::exists(f.dir + "/dialog-runs")) << "trial folders go to the studio's runs folder";
  fs::remove_all(f.dir);
}

// A sweep running elsewhere (another process or machine writing the same
// database): the panel re-reads the store on its timer and shows new trials
// without being asked.
TEST(SweepsPanel, WatchesASweepRunningElsewhere) {
  Fixture f = make_store();
  int64_t sweep = 0;
  {
    ExperimentStore st(f.db);
    sweep = st.create_sweep(
        "elsewhere", {{"base", {{"data", "sample"}, {"model", "mlp"}}}, {"grid", {{"optimizer.lr", {0.1, 0.01}}}}});
    int64_t id = st.create_run(NewRun{});
    st.set_run_trial(id, sweep, 0, {{"optimizer.lr", 0.1}});
    st.add_metric(id, 5, 0, "valid_accuracy", 0.4);
  }
  SweepsPanel p;
  p.setWatchInterval(100);
  p.setDatabasePath(f.db);
  p.selectSweep(sweep);
  ASSERT_EQ(p.currentSweep(), sweep);
  EXPECT_EQ(p.trialsProxy()->rowCount(), 1);
  EXPECT_TRUE(p.isWatching()) << "a running sweep is watched";
  {
    ExperimentStore st(f.db);
    int64_t id = st.create_run(NewRun{});
    st.set_run_trial(id, sweep, 1, {{"optimizer.lr", 0.01}});
    st.add_metric(id, 5, 0, "valid_accuracy", 0.6);
  }
  for (int i = 0; i < 100 && p.trialsProxy()->rowCount() < 2; ++i) QTest::qWait(50);
  EXPECT_EQ(p.trialsProxy()->rowCount(), 2);
  EXPECT_EQ(p.currentSweep(), sweep) << "the selection survives the refresh";
  EXPECT_EQ(p.plot()->lineCount(), 2);
  {
    ExperimentStore st(f.db);
    st.finish_sweep(sweep, "finished");
  }
  for (int i = 0; i < 100 && p.isWatching(); ++i) QTest::qWait(50);
  EXPECT_FALSE(p.isWatching()) << "nothing left to watch";
  fs::remove_all(f.dir);
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  QApplication app(argc, argv);
  return RUN_ALL_TESTS();
}
