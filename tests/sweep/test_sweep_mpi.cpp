// A distributed sweep under a real launcher: `mpirun -np 3 perceptra-cli
// sweep` (rank 0 coordinates, ranks 1 and 2 train) on the bundled sample
// data. The workers are given a database path of their own (an MPMD
// launch) that must never come to exist: only rank 0 opens the store. Then a
// worker is SIGKILLed mid-sweep: the database stays intact and `sweep
// --resume` under mpirun finishes every trial, one run per trial.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using nlohmann::json;

extern char** environ;

namespace {

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

pid_t spawn(const std::vector<std::string>& all, int out_fd, const std::string& out, const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_fd >= 0)
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  else
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, all[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

int wait_for(pid_t pid, int seconds) {
  auto t0 = std::chrono::steady_clock::now();
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(seconds)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result run(const std::vector<std::string>& all, const std::string& dir, int timeout_s = 240) {
  Result r;
  pid_t pid = spawn(all, -1, dir + "/out.txt", dir + "/err.txt");
  if (pid < 0) return r;
  r.code = wait_for(pid, timeout_s);
  r.out = slurp(dir + "/out.txt");
  r.err = slurp(dir + "/err.txt");
  return r;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty() && line[0] == '{') {
      try {
        out.push_back(json::parse(line));
      } catch (const json::exception&) {  // a line cut by a kill
      }
    }
  return out;
}

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

// mpirun -np 1 <rank 0 args> : -np 2 <worker args>, the workers' --db
// pointing at a file that must never appear.
std::vector<std::string> mpmd(const std::vector<std::string>& rank0, const std::vector<std::string>& workers) {
  std::vector<std::string> all = {PERCEPTRA_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", "1",
                                  PERCEPTRA_CLI};
  all.insert(all.end(), rank0.begin(), rank0.end());
  all.insert(all.end(), {":", "-np", "2", PERCEPTRA_CLI});
  all.insert(all.end(), workers.begin(), workers.end());
  return all;
}

class SweepMpi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string(PERCEPTRA_MPIEXEC).empty())
      GTEST_SKIP() << "this build has no MPI (CMake found no MPI or mpiexec): distributed sweeps are unavailable";
    dir = perceptra::test::make_temp_dir("sweepmpi");
    db = dir + "/p.db";
    forbidden = dir + "/workers-must-not-open.db";
    // A good LR and a useless one (the median rule stops it), two batch sizes.
    json spec = {
        {"base",
         {{"data", "sample"}, {"model", "mlp"}, {"epochs", 2}, {"max_batches", 10}, {"device", "cpu"}, {"seed", 1}}},
        {"grid", {{"optimizer.lr", {0.05, 1e-6}}, {"batch_size", {16, 32}}}},
        {"metric", "valid_accuracy"},
        {"goal", "max"},
        {"early_terminate", {{"type", "median"}, {"grace_epochs", 1}, {"min_trials", 2}}},
        {"name", "mpi-grid"}};
    std::ofstream(dir + "/sweep.json") << spec.dump(2);
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  std::vector<std::string> args(const std::string& database, std::vector<std::string> head) {
    head.insert(head.end(), {"--db", database, "--out", dir + "/runs", "--threads", "1", "--json"});
    return head;
  }
  std::string dir, db, forbidden;
};

void expect_all_trials_recorded(const std::string& dir, const std::string& db, int64_t sweep_id,
                                std::set<int>* ranks = nullptr) {
  Result r = run({PERCEPTRA_CLI, "runs", "list", "--sweep", std::to_string(sweep_id), "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json list = json::parse(r.out);
  EXPECT_EQ(list["status"], "finished");
  const json& trials = list["trials"];
  ASSERT_EQ(trials.size(), 4u) << list.dump(1);
  std::set<int64_t> indices;
  std::set<std::pair<double, int>> points;
  for (auto& t : trials) {
    indices.insert(t["trial"].get<int64_t>());
    points.insert({t["params"]["optimizer.lr"].get<double>(), t["params"]["batch_size"].get<int>()});
    if (t["status"] == "early_terminated")
      EXPECT_EQ(t["params"]["optimizer.lr"], 1e-6) << "a good trial was stopped: " << t;
    else
      EXPECT_EQ(t["status"], "finished") << t;
    Result s = run({PERCEPTRA_CLI, "runs", "show", std::to_string(t["id"].get<int64_t>()), "--db", db, "--json"}, dir);
    ASSERT_EQ(s.code, 0) << s.err;
    json show = json::parse(s.out);
    auto acc = show["metrics"]["valid_accuracy"]["values"].get<std::vector<double>>();
    ASSERT_FALSE(acc.empty());
    EXPECT_DOUBLE_EQ(*std::max_element(acc.begin(), acc.end()), t["score"].get<double>());
    if (ranks) ranks->insert(show["machine"].value("rank", -1));
  }
  EXPECT_EQ(indices, (std::set<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(points.size(), 4u);
  // Ranked by the metric, best first, the winner with the good LR.
  for (size_t i = 0; i + 1 < trials.size(); ++i)
    EXPECT_GE(trials[i]["score"].get<double>(), trials[i + 1]["score"].get<double>());
  EXPECT_EQ(trials[0]["params"]["optimizer.lr"], 0.05);
}

}  // namespace

TEST_F(SweepMpi, ThreeRanksRankZeroAloneRecords) {
  const auto t0 = std::chrono::steady_clock::now();
  Result r = run(mpmd(args(db, {"sweep", dir + "/sweep.json"}), args(forbidden, {"sweep", dir + "/sweep.json"})), dir);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("distributed sweep (4 trials, 3 ranks): %.1f s\n", seconds);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_FALSE(fs::exists(forbidden)) << "a worker rank opened a store";
  auto ev = json_lines(r.out);
  ASSERT_FALSE(ev.empty()) << r.err;
  EXPECT_EQ(ev.front()["event"], "sweep_begin");
  EXPECT_EQ(ev.front()["workers"], 2);
  EXPECT_EQ(ev.back()["event"], "sweep_end");
  EXPECT_EQ(ev.back()["done"], 4);
  const int64_t sweep_id = ev.front()["sweep_id"];
  std::set<int> ranks;
  expect_all_trials_recorded(dir, db, sweep_id, &ranks);
  EXPECT_EQ(ranks, (std::set<int>{1, 2})) << "each worker rank trains trials, rank 0 none";
  EXPECT_EQ(integrity(db), "ok");
}

TEST_F(SweepMpi, KilledWorkerThenResume) {
  // Rank 0's stdout through a pipe: kill the first worker that begins a trial.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  auto all = mpmd(args(db, {"sweep", dir + "/sweep.json"}), args(forbidden, {"sweep", dir + "/sweep.json"}));
  pid_t pid = spawn(all, fds[1], "", dir + "/err1.txt");
  close(fds[1]);
  ASSERT_GT(pid, 0);
  FILE* f = fdopen(fds[0], "r");
  char line[1 << 16];
  int64_t sweep_id = 0;
  bool killed = false;
  while (fgets(line, sizeof line, f)) {
    json e = json::parse(line, nullptr, false);
    if (!e.is_object()) continue;
    if (e["event"] == "sweep_begin") sweep_id = e["sweep_id"];
    if (e["event"] == "trial_begin" && !killed && e.value("pid", int64_t(0)) > 0) {
      kill(pid_t(e["pid"].get<int64_t>()), SIGKILL);
      killed = true;
    }
  }
  fclose(f);
  const int code = wait_for(pid, 240);
  ASSERT_TRUE(killed);
  ASSERT_GT(sweep_id, 0);
  EXPECT_NE(code, -1) << "the job hung after losing a worker";
  EXPECT_EQ(integrity(db), "ok");
  EXPECT_FALSE(fs::exists(forbidden));

  // The sweep is resumable (stopped by the coordinator, or interrupted when
  // the launcher ended the whole job); resume finishes every trial.
  // mpirun can exit before the rank 0 it killed is gone, and the sweep's
  // owner check then rightly says "still running": try again for a while.
  Result r;
  for (int attempt = 0; attempt < 40; ++attempt) {
    r = run(mpmd(args(db, {"sweep", "--resume", std::to_string(sweep_id)}),
                 args(forbidden, {"sweep", "--resume", std::to_string(sweep_id)})),
            dir);
    if (r.code == 0 || r.err.find("is still running") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  auto ev = json_lines(r.out);
  ASSERT_FALSE(ev.empty());
  EXPECT_TRUE(ev.front()["resumed"].get<bool>());
  EXPECT_EQ(ev.back()["event"], "sweep_end");
  EXPECT_EQ(ev.back()["status"], "finished");
  EXPECT_EQ(ev.back()["done"], 4);
  EXPECT_FALSE(fs::exists(forbidden));
  expect_all_trials_recorded(dir, db, sweep_id);
  EXPECT_EQ(integrity(db), "ok");
}

// Without a launcher, --distributed is refused with the reason (1 rank, or
// no MPI in this build), before anything is written.
TEST(SweepMpiUsage, DistributedWithoutALauncherSaysWhy) {
  const std::string dir = perceptra::test::make_temp_dir("sweepmpiusage");
  json spec = {{"base", {{"data", "sample"}, {"model", "mlp"}, {"epochs", 1}}}, {"grid", {{"optimizer.lr", {0.05}}}}};
  std::ofstream(dir + "/s.json") << spec.dump();
  Result r = run({PERCEPTRA_CLI, "sweep", dir + "/s.json", "--distributed", "--db", dir + "/p.db"}, dir);
  EXPECT_NE(r.code, 0);
  const bool said = r.err.find("MPI launcher") != std::string::npos || r.err.find("no MPI") != std::string::npos;
  EXPECT_TRUE(said) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/p.db"));
  fs::remove_all(dir);
}
