// The sweep runner in process on a tiny generated dataset: failing trials
// (bad config, diverged) are recorded and the sweep goes on; a stop leaves
// the sweep resumable and resume finishes only what is left.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>

#include "core/store/store.h"
#include "core/sweep/ranking.h"
#include "core/sweep/runner.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using namespace perceptra;
using nlohmann::json;

namespace {

class SweepRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::make_temp_dir("sweeprunner");
    data = test::make_tiny_dataset(dir + "/data", 3, 30, 12);
    db = dir + "/p.db";
  }
  void TearDown() override { fs::remove_all(dir); }
  json base(int epochs) {
    return {{"data", data},    {"model", test::tiny_mlp_spec(3)}, {"epochs", epochs}, {"batch_size", 16},
            {"device", "cpu"}, {"out_dir", dir + "/runs"}};
  }
  SweepOptions options(int parallel) {
    SweepOptions o;
    o.db_path = db;
    o.parallel = parallel;
    o.threads = 2;
    return o;
  }
  std::string dir, data, db;
};

}  // namespace

TEST_F(SweepRunnerTest, FailingTrialsAreRecordedAndTheSweepGoesOn) {
  json spec = {
      {"base", base(1)}, {"grid", {{"batch_size", {16, 0}}, {"optimizer.lr", {0.05, 1e30}}}}, {"name", "failing"}};
  SweepRunner r(SweepSpec::from_json(spec), options(2));
  EXPECT_EQ(r.threads_per_trial(), 1);
  std::vector<json> events;
  SweepResult res = r.run([&](const json& e) { events.push_back(e); });
  EXPECT_EQ(res.status, "finished");
  EXPECT_EQ(res.trials, 4);
  EXPECT_EQ(res.done, 4);
  EXPECT_EQ(res.failed, 2);    // batch_size 0: a bad config, twice
  EXPECT_EQ(res.diverged, 1);  // lr 1e30
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front()["event"], "sweep_begin");
  EXPECT_EQ(events.back()["event"], "sweep_end");

  ExperimentStore st(db);
  auto runs = st.sweep_runs(res.sweep_id);
  ASSERT_EQ(runs.size(), 4u);
  std::map<int64_t, RunRecord> by_trial;
  for (auto& run : runs) by_trial[run.trial_index] = run;
  ASSERT_EQ(by_trial.size(), 4u);
  // Trial order: batch_size slowest, optimizer.lr fastest.
  EXPECT_EQ(by_trial[0].status, RunStatus::Finished);
  EXPECT_EQ(by_trial[0].trial_params, json({{"batch_size", 16}, {"optimizer.lr", 0.05}}));
  EXPECT_EQ(by_trial[1].status, RunStatus::Diverged);
  for (int t : {2, 3}) {
    EXPECT_EQ(by_trial[t].status, RunStatus::Failed);
    EXPECT_NE(by_trial[t].status_message.find("batch_size"), std::string::npos) << by_trial[t].status_message;
    EXPECT_EQ(by_trial[t].trial_params["batch_size"], 0);
  }
  EXPECT_EQ(res.best_trial, 0);
  EXPECT_EQ(st.sweep(res.sweep_id).status, "finished");
}

TEST_F(SweepRunnerTest, StopThenResumeFinishesOnlyWhatIsLeft) {
  json spec = {{"base", base(2)}, {"random", {{"optimizer.lr", {{"log_uniform", {0.01, 0.1}}}}}}, {"trials", 4}};
  std::atomic<bool> cancel{false};
  SweepOptions o = options(1);
  o.cancel = &cancel;
  std::set<int64_t> first_trials;
  int64_t finished_run = 0;
  SweepResult res = SweepRunner(SweepSpec::from_json(spec), o).run([&](const json& e) {
    if (e["event"] == "trial_end") {
      first_trials.insert(e["trial"].get<int64_t>());
      finished_run = e["run_id"];
      cancel = true;  // Ctrl-C after the first trial
    }
  });
  EXPECT_EQ(res.status, "stopped");
  EXPECT_EQ(res.done, 1);
  ASSERT_EQ(first_trials, (std::set<int64_t>{0}));
  {
    ExperimentStore st(db);
    EXPECT_EQ(st.sweep(res.sweep_id).status, "stopped");
    EXPECT_EQ(st.sweep_runs(res.sweep_id).size(), 1u);
  }
  // Resume: trials 1..3 run; trial 0 is not run again.
  std::set<int64_t> resumed_trials;
  SweepOptions o2 = options(2);
  SweepResult res2 = SweepRunner::resume(res.sweep_id, o2).run([&](const json& e) {
    if (e["event"] == "trial_begin") resumed_trials.insert(e["trial"].get<int64_t>());
    if (e["event"] == "sweep_begin") {
      EXPECT_TRUE(e["resumed"].get<bool>());
      EXPECT_EQ(e["already_done"], 1);
    }
  });
  EXPECT_EQ(res2.status, "finished");
  EXPECT_EQ(res2.done, 4);
  EXPECT_EQ(resumed_trials, (std::set<int64_t>{1, 2, 3}));
  ExperimentStore st(db);
  auto runs = st.sweep_runs(res.sweep_id);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].id, finished_run);
  for (auto& run : runs) EXPECT_EQ(run.status, RunStatus::Finished) << run.id;
  // A finished sweep resumed again runs nothing.
  SweepResult res3 = SweepRunner::resume(res.sweep_id, o2).run();
  EXPECT_EQ(res3.done, 4);
  EXPECT_EQ(st.sweep_runs(res.sweep_id).size(), 4u);
  // Ranking: best first, each score the run's best valid_accuracy.
  SweepRanking rank = rank_sweep(st, res.sweep_id);
  ASSERT_EQ(rank.trials.size(), 4u);
  for (size_t i = 0; i + 1 < rank.trials.size(); ++i) EXPECT_GE(*rank.trials[i].score, *rank.trials[i + 1].score);
  for (auto& t : rank.trials) EXPECT_DOUBLE_EQ(*t.score, *t.summary.best_valid_accuracy);
}

TEST_F(SweepRunnerTest, OptionsAreChecked) {
  SweepSpec s = SweepSpec::from_json({{"base", base(1)}, {"grid", {{"seed", {1, 2}}}}});
  SweepOptions o = options(1);
  o.db_path = "-";
  EXPECT_THROW(SweepRunner(s, o), InputError);
  o = options(0);
  EXPECT_THROW(SweepRunner(s, o), InputError);
  EXPECT_THROW(SweepRunner::resume(99, options(1)), StoreError);
}
