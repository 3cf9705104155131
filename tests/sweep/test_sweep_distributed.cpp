// The distributed sweep protocol (core/sweep/distributed.h) without mpirun:
// rank 0's coordinator and the workers on threads of one process, talking
// through a thread_group communicator. Checked: every trial recorded by rank
// 0 with its sweep id, parameters, metrics and the rank that trained it; the
// same curves as the local runner; failures and divergence recorded;
// early termination decided at rank 0 and obeyed by the worker; a worker
// that goes silent leaves its trial interrupted, the sweep goes on, and
// resume finishes it; the database passes integrity_check.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "core/dist/communicator.h"
#include "core/store/store.h"
#include "core/sweep/distributed.h"
#include "core/sweep/ranking.h"
#include "core/sweep/runner.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using namespace perceptra;
using nlohmann::json;

namespace {

std::string integrity(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return "cannot open";
  sqlite3_stmt* st = nullptr;
  std::string v;
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

class DistSweep : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::make_temp_dir("distsweep");
    data = test::make_tiny_dataset(dir + "/data", 3, 30, 12);
    db = dir + "/p.db";
  }
  void TearDown() override {
    unsetenv("PERCEPTRA_DIST_TIMEOUT");
    fs::remove_all(dir);
  }
  json base(int epochs) {
    return {{"data", data},    {"model", test::tiny_mlp_spec(3)}, {"epochs", epochs}, {"batch_size", 16},
            {"device", "cpu"}, {"out_dir", dir + "/runs"},        {"seed", 3}};
  }
  SweepOptions options(const std::string& path) {
    SweepOptions o;
    o.db_path = path;
    o.parallel = 1;
    o.threads = 1;
    return o;
  }
  // Rank 0 coordinates on this thread, ranks 1.. are workers on threads.
  SweepResult run_distributed(SweepRunner& runner, int ranks, std::vector<json>* events = nullptr,
                              std::function<void(Communicator&)> rank2 = nullptr) {
    auto group = thread_group(ranks);
    std::vector<std::thread> threads;
    std::vector<std::string> errors(static_cast<size_t>(ranks));
    for (int r = 1; r < ranks; ++r)
      threads.emplace_back([&, r] {
        try {
          if (r == 2 && rank2) {
            rank2(*group[2]);
            return;
          }
          SweepWorkerOptions wo;
          wo.parallel = 1;
          wo.threads = 1;
          run_sweep_worker(*group[size_t(r)], wo);
        } catch (const std::exception& e) {
          errors[size_t(r)] = e.what();
        }
      });
    SweepResult res = runner.run(*group[0], [&](const json& e) {
      if (events) events->push_back(e);
    });
    for (auto& t : threads) t.join();
    for (int r = 1; r < ranks; ++r) EXPECT_EQ(errors[size_t(r)], "") << "rank " << r;
    return res;
  }
  std::string dir, data, db;
};

}  // namespace

TEST(ThreadGroup, PointToPointInOrderFromEachSender) {
  auto g = thread_group(3);
  EXPECT_EQ(g[1]->rank(), 1);
  EXPECT_EQ(g[1]->size(), 3);
  EXPECT_FALSE(g[0]->try_recv());
  g[1]->send(0, "a1");
  g[2]->send(0, "b1");
  g[1]->send(0, "a2");
  std::vector<std::pair<int, std::string>> got;
  while (auto m = g[0]->try_recv()) got.push_back({m->source, m->bytes});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], std::make_pair(1, std::string("a1")));
  EXPECT_EQ(got[1], std::make_pair(2, std::string("b1")));
  EXPECT_EQ(got[2], std::make_pair(1, std::string("a2")));
  EXPECT_FALSE(g[0]->recv(std::chrono::milliseconds(20)));  // times out empty
  EXPECT_THROW(g[0]->send(3, "x"), Error);
  auto local = local_communicator();
  local->send(0, "self");
  auto m = local->try_recv();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->bytes, "self");
}

TEST_F(DistSweep, WorkersTrainRankZeroRecordsEverything) {
  // 6 trials: two good LRs, one that diverges, each at batch 16 and at the
  // bad batch 0 (fails before its run exists, on the worker).
  json spec = {
      {"base", base(2)}, {"grid", {{"batch_size", {16, 0}}, {"optimizer.lr", {0.05, 0.1, 1e30}}}}, {"name", "dist"}};
  SweepRunner runner(SweepSpec::from_json(spec), options(db));
  std::vector<json> events;
  SweepResult res = run_distributed(runner, 3, &events);
  EXPECT_EQ(res.status, "finished");
  EXPECT_EQ(res.trials, 6);
  EXPECT_EQ(res.done, 6);
  EXPECT_EQ(res.failed, 3);
  EXPECT_EQ(res.diverged, 1);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front()["event"], "sweep_begin");
  EXPECT_TRUE(events.front()["distributed"].get<bool>());
  EXPECT_EQ(events.back()["event"], "sweep_end");

  ExperimentStore st(db);
  auto runs = st.sweep_runs(res.sweep_id);
  ASSERT_EQ(runs.size(), 6u);
  std::set<int> ranks;
  for (auto& r : runs) {
    EXPECT_EQ(r.sweep_id, res.sweep_id);
    if (r.trial_params["batch_size"] == 0) {
      EXPECT_EQ(r.status, RunStatus::Failed);
      EXPECT_NE(r.status_message.find("batch_size"), std::string::npos) << r.status_message;
      continue;
    }
    ASSERT_TRUE(r.machine.contains("rank")) << r.machine;
    ranks.insert(r.machine["rank"].get<int>());
    EXPECT_EQ(r.hparams.value("batch_size", 0), 16);
    EXPECT_FALSE(r.hparams.contains("db_path"));
    if (r.trial_params["optimizer.lr"] == 1e30) {
      EXPECT_EQ(r.status, RunStatus::Diverged);
      continue;
    }
    EXPECT_EQ(r.status, RunStatus::Finished) << r.status_message;
    EXPECT_EQ(st.metric_series(r.id, "valid_accuracy").size(), 2u);
    EXPECT_GT(st.metric_series(r.id, "train_loss").size(), 0u);
    EXPECT_GT(st.metric_series(r.id, "trained_seconds").size(), 0u);
    EXPECT_TRUE(r.dataset_id.has_value());
  }
  EXPECT_EQ(ranks, (std::set<int>{1, 2}));  // both workers trained

  // The same trials trained by the local runner give the same curves:
  // workers train exactly what the spec says.
  SweepRunner local(SweepSpec::from_json(spec), options(dir + "/local.db"));
  SweepResult lres = local.run();
  ExperimentStore lst(dir + "/local.db");
  std::map<int64_t, RunRecord> local_by_trial;
  for (auto& r : lst.sweep_runs(lres.sweep_id)) local_by_trial[r.trial_index] = r;
  for (auto& r : runs) {
    if (r.status != RunStatus::Finished) continue;
    auto a = st.metric_series(r.id, "valid_loss").values;
    auto b = lst.metric_series(local_by_trial.at(r.trial_index).id, "valid_loss").values;
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << "trial " << r.trial_index;
  }

  // Ranking by the best valid_accuracy, as for a local sweep.
  SweepRanking rank = rank_sweep(st, res.sweep_id);
  ASSERT_EQ(rank.trials.size(), 6u);
  for (size_t i = 0; i + 1 < rank.trials.size(); ++i)
    if (rank.trials[i + 1].score) {
      ASSERT_TRUE(rank.trials[i].score);
      EXPECT_GE(*rank.trials[i].score, *rank.trials[i + 1].score);
    }
  EXPECT_EQ(res.best_run_id, rank.trials.front().summary.run.id);
  EXPECT_EQ(integrity(db), "ok");
}

TEST_F(DistSweep, EarlyTerminationIsDecidedAtRankZero) {
  // One worker, trials in order: the good LR first, then a useless one the
  // median rule (against the good trial) stops after epoch 1 of 3.
  json spec = {{"base", base(3)},
               {"grid", {{"optimizer.lr", {0.1, 1e-7}}}},
               {"early_terminate", {{"type", "median"}, {"grace_epochs", 1}, {"min_trials", 1}}}};
  SweepRunner runner(SweepSpec::from_json(spec), options(db));
  std::vector<json> events;
  SweepResult res = run_distributed(runner, 2, &events);
  EXPECT_EQ(res.status, "finished");
  EXPECT_EQ(res.early_terminated, 1);
  ExperimentStore st(db);
  std::map<int64_t, RunRecord> by_trial;
  for (auto& r : st.sweep_runs(res.sweep_id)) by_trial[r.trial_index] = r;
  ASSERT_EQ(by_trial.size(), 2u);
  EXPECT_EQ(by_trial[0].status, RunStatus::Finished);
  EXPECT_FALSE(by_trial[0].early_terminated);
  EXPECT_EQ(st.metric_series(by_trial[0].id, "valid_accuracy").size(), 3u);
  EXPECT_TRUE(by_trial[1].early_terminated);
  EXPECT_EQ(by_trial[1].status, RunStatus::Stopped);
  EXPECT_NE(by_trial[1].status_message.find("median"), std::string::npos) << by_trial[1].status_message;
  // The worker stopped after the decision: one epoch recorded, not three.
  EXPECT_EQ(st.metric_series(by_trial[1].id, "valid_accuracy").size(), 1u);
  int ended_early = 0;
  for (auto& e : events)
    if (e["event"] == "trial_end" && e["status"] == "early_terminated") ++ended_early;
  EXPECT_EQ(ended_early, 1);
}

TEST_F(DistSweep, SilentWorkerLeavesItsTrialInterruptedAndResumeFinishesIt) {
  setenv("PERCEPTRA_DIST_TIMEOUT", "4", 1);
  json spec = {{"base", base(2)}, {"grid", {{"optimizer.lr", {0.05, 0.1, 0.2}}}}, {"name", "lossy"}};
  SweepRunner runner(SweepSpec::from_json(spec), options(db));
  std::vector<json> events;
  int64_t lost_trial = -1;
  // Rank 2 takes a trial, reports its begin, then dies silently.
  SweepResult res = run_distributed(runner, 3, &events, [&](Communicator& c) {
    c.send(0, json({{"t", "hello"}, {"slots", 1}, {"host", "doomed"}}).dump());
    while (true) {
      auto m = c.recv(std::chrono::seconds(10));
      ASSERT_TRUE(m);
      json j = json::parse(m->bytes);
      if (j["t"] != "trial") continue;
      lost_trial = j["trial"];
      c.send(0, json({{"t", "begin"}, {"trial", lost_trial}, {"epochs", 2}, {"config", j["config"]}}).dump());
      return;
    }
  });
  ASSERT_GE(lost_trial, 0);
  EXPECT_EQ(res.status, "stopped");  // resumable
  EXPECT_EQ(res.done, 2);
  EXPECT_EQ(res.unfinished, 1);
  bool lost_event = false;
  for (auto& e : events) lost_event |= e["event"] == "worker_lost" && e["rank"] == 2;
  EXPECT_TRUE(lost_event);
  {
    ExperimentStore st(db);
    EXPECT_EQ(st.sweep(res.sweep_id).status, "stopped");
    for (auto& r : st.sweep_runs(res.sweep_id)) {
      if (r.trial_index == lost_trial) {
        EXPECT_EQ(r.status, RunStatus::Interrupted);
        EXPECT_NE(r.status_message.find("rank 2"), std::string::npos) << r.status_message;
      } else {
        EXPECT_EQ(r.status, RunStatus::Finished);
        EXPECT_EQ(r.machine["rank"], 1);
      }
    }
  }
  EXPECT_EQ(integrity(db), "ok");

  // Resumed over a new job: only the lost trial runs, from the start.
  unsetenv("PERCEPTRA_DIST_TIMEOUT");
  SweepRunner again = SweepRunner::resume(res.sweep_id, options(db));
  events.clear();
  SweepResult res2 = run_distributed(again, 2, &events);
  EXPECT_EQ(res2.status, "finished");
  EXPECT_EQ(res2.done, 3);
  std::set<int64_t> begun;
  for (auto& e : events)
    if (e["event"] == "trial_begin") begun.insert(e["trial"].get<int64_t>());
  EXPECT_EQ(begun, (std::set<int64_t>{lost_trial}));
  ExperimentStore st(db);
  auto runs = st.sweep_runs(res.sweep_id);
  ASSERT_EQ(runs.size(), 3u);  // the interrupted attempt was replaced
  for (auto& r : runs) {
    EXPECT_EQ(r.status, RunStatus::Finished);
    EXPECT_EQ(st.metric_series(r.id, "valid_accuracy").size(), 2u);
  }
  EXPECT_EQ(integrity(db), "ok");
}

TEST_F(DistSweep, CoordinatorNeedsWorkers) {
  json spec = {{"base", base(1)}, {"grid", {{"optimizer.lr", {0.05}}}}};
  SweepRunner runner(SweepSpec::from_json(spec), options(db));
  auto one = thread_group(1);
  EXPECT_THROW(runner.run(*one[0]), InputError);
  auto two = thread_group(2);
  EXPECT_THROW(run_sweep_worker(*two[0], {}), Error);
}
