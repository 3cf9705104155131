// perceptra-cli sweep end to end on the bundled sample data (issue 19's
// "must show"): a 2x2 grid with 2 random draws per grid point (8 trials),
// 2 in parallel, median early termination; the sweep is SIGKILLed after two
// trials finished and `sweep --resume` completes it without rerunning them.
// Then: 8 runs with the sweep id and their parameters, the ranking of `runs
// list --sweep` is right, the bad-LR trials are early-terminated, and the
// database passes integrity_check.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

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

Result cli(const std::vector<std::string>& args, const std::string& dir) {
  std::string out = dir + "/stdout.txt", err = dir + "/stderr.txt";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> all = {PERCEPTRA_CLI};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  Result r;
  if (posix_spawn(&pid, PERCEPTRA_CLI, &fa, nullptr, argv.data(), environ) != 0) return r;
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  waitpid(pid, &status, 0);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

FILE* spawn_reading_stdout(const std::vector<std::string>& args, pid_t& pid) {
  int fds[2];
  if (pipe(fds) != 0) return nullptr;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> all = {PERCEPTRA_CLI};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int rc = posix_spawn(&pid, PERCEPTRA_CLI, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return nullptr;
  }
  return fdopen(fds[0], "r");
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(json::parse(line));
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

class SweepCli : public ::testing::Test {
 protected:
  void SetUp() override { dir = perceptra::test::make_temp_dir("sweepcli"); }
  void TearDown() override { fs::remove_all(dir); }
  std::string dir;
};

}  // namespace

TEST_F(SweepCli, GridPlusRandomInParallelKilledAndResumed) {
  const std::string db = dir + "/p.db";
  // A good LR and a uselessly small one, so the median rule has something to
  // stop; 3 short epochs keep it quick.
  json spec = {
      {"base",
       {{"data", "sample"}, {"model", "mlp"}, {"epochs", 3}, {"max_batches", 12}, {"device", "cpu"}, {"seed", 1}}},
      {"grid", {{"optimizer.lr", {0.05, 1e-6}}, {"batch_size", {16, 32}}}},
      {"random", {{"optimizer.weight_decay", {{"log_uniform", {1e-5, 1e-3}}}}}},
      {"trials", 2},
      {"metric", "valid_accuracy"},
      {"goal", "max"},
      {"early_terminate", {{"type", "median"}, {"grace_epochs", 1}, {"min_trials", 2}}},
      {"name", "must-show"}};
  std::ofstream(dir + "/sweep.json") << spec.dump(2);

  // Start, and SIGKILL once two trials have finished.
  pid_t pid = 0;
  FILE* f = spawn_reading_stdout(
      {"sweep", dir + "/sweep.json", "--parallel", "2", "--db", db, "--out", dir + "/runs", "--json"}, pid);
  ASSERT_NE(f, nullptr);
  char line[1 << 16];
  int64_t sweep_id = 0;
  std::map<int64_t, int64_t> finished_before_kill;  // trial -> run
  while (fgets(line, sizeof line, f)) {
    json e = json::parse(line);
    if (e["event"] == "sweep_begin") {
      sweep_id = e["sweep_id"];
      EXPECT_EQ(e["trials"], 8);
      EXPECT_EQ(e["threads_per_trial"], 1);  // 2 cores split between 2 trials
    }
    if (e["event"] == "trial_end") finished_before_kill[e["trial"]] = e["run_id"];
    if (finished_before_kill.size() == 2) break;
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  fclose(f);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_GT(sweep_id, 0);
  ASSERT_EQ(finished_before_kill.size(), 2u);
  EXPECT_EQ(integrity(db), "ok");

  // The killed sweep reads as interrupted; resume runs only the rest. A
  // third trial may have ended between the second trial_end and the kill:
  // what the store holds as ended is what resume must keep.
  Result r = cli({"runs", "sweeps", "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)[0]["status"], "interrupted");
  r = cli({"runs", "list", "--sweep", std::to_string(sweep_id), "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  std::set<int64_t> ended_before_resume;
  const json before_resume = json::parse(r.out);
  for (auto& t : before_resume["trials"])
    if (t["status"] == "finished" || t["status"] == "early_terminated" || t["status"] == "failed" ||
        t["status"] == "diverged")  // what resume keeps (SweepBook)
      ended_before_resume.insert(t["trial"].get<int64_t>());
  for (auto& [trial, run] : finished_before_kill)
    EXPECT_EQ(ended_before_resume.count(trial), 1u)
        << "trial " << trial << " ended but is not recorded as ended: " << before_resume.dump();
  r = cli(
      {"sweep", "--resume", std::to_string(sweep_id), "--parallel", "2", "--db", db, "--out", dir + "/runs", "--json"},
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ev = json_lines(r.out);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.front()["event"], "sweep_begin");
  EXPECT_TRUE(ev.front()["resumed"].get<bool>());
  std::set<int64_t> begun;
  for (auto& e : ev)
    if (e["event"] == "trial_begin") {
      begun.insert(e["trial"].get<int64_t>());
      EXPECT_EQ(ended_before_resume.count(e["trial"]), 0u) << "finished trial rerun: " << e;
    }
  EXPECT_EQ(begun.size() + ended_before_resume.size(), 8u);
  EXPECT_EQ(ev.back()["event"], "sweep_end");
  EXPECT_EQ(ev.back()["status"], "finished");
  EXPECT_EQ(ev.back()["done"], 8);

  // 8 runs with the sweep id, one per trial, with their parameters.
  r = cli({"runs", "list", "--sweep", std::to_string(sweep_id), "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json list = json::parse(r.out);
  EXPECT_EQ(list["sweep_id"], sweep_id);
  EXPECT_EQ(list["status"], "finished");
  const json& trials = list["trials"];
  ASSERT_EQ(trials.size(), 8u);
  std::set<int64_t> indices;
  std::set<std::pair<double, int>> grid_points;
  int early = 0;
  for (auto& t : trials) {
    indices.insert(t["trial"].get<int64_t>());
    const json& p = t["params"];
    ASSERT_TRUE(p.contains("optimizer.lr") && p.contains("batch_size") && p.contains("optimizer.weight_decay")) << p;
    grid_points.insert({p["optimizer.lr"].get<double>(), p["batch_size"].get<int>()});
    double wd = p["optimizer.weight_decay"];
    EXPECT_GE(wd, 1e-5);
    EXPECT_LE(wd, 1e-3);
    auto it = finished_before_kill.find(t["trial"]);
    if (it != finished_before_kill.end()) {
      EXPECT_EQ(t["id"], it->second);  // same run, not rerun
    }
    if (t["status"] == "early_terminated") {
      ++early;
      EXPECT_TRUE(t["early_terminated"].get<bool>());
      EXPECT_NE(t["status_message"].get<std::string>().find("median"), std::string::npos);
      EXPECT_EQ(p["optimizer.lr"], 1e-6) << "a good trial was stopped: " << t;
    } else {
      EXPECT_EQ(t["status"], "finished") << t;
    }
  }
  EXPECT_EQ(indices.size(), 8u);
  EXPECT_EQ(grid_points.size(), 4u);
  EXPECT_GE(early, 1);
  // Ranking: scores never increase down the list; each is the run's best
  // valid_accuracy; the winner trained with the good LR.
  for (size_t i = 0; i + 1 < trials.size(); ++i)
    EXPECT_GE(trials[i]["score"].get<double>(), trials[i + 1]["score"].get<double>());
  EXPECT_EQ(trials[0]["params"]["optimizer.lr"], 0.05);
  for (size_t i : {size_t(0), trials.size() - 1}) {
    r = cli({"runs", "show", std::to_string(trials[i]["id"].get<int64_t>()), "--db", db, "--json"}, dir);
    ASSERT_EQ(r.code, 0) << r.err;
    auto acc = json::parse(r.out)["metrics"]["valid_accuracy"]["values"].get<std::vector<double>>();
    ASSERT_FALSE(acc.empty());
    EXPECT_DOUBLE_EQ(*std::max_element(acc.begin(), acc.end()), trials[i]["score"].get<double>());
  }
  // The human table too.
  r = cli({"runs", "list", "--sweep", std::to_string(sweep_id), "--db", db}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("early_terminated"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("optimizer.lr=0.05"), std::string::npos) << r.out;
  EXPECT_EQ(integrity(db), "ok");
}

TEST_F(SweepCli, UsageAndSpecErrors) {
  Result r = cli({"sweep", "--help"}, dir);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: perceptra-cli sweep"), std::string::npos);
  EXPECT_EQ(cli({"sweep"}, dir).code, 2);
  EXPECT_EQ(cli({"sweep", dir + "/missing.json", "--db", dir + "/p.db"}, dir).code, 2);
  std::ofstream(dir + "/bad.json") << R"({"base": {"data": "sample"}, "grid": {"optimizer.lrr": [1]}})";
  r = cli({"sweep", dir + "/bad.json", "--db", dir + "/p.db"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad.json"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("grid.optimizer.lrr"), std::string::npos) << r.err;
  EXPECT_EQ(cli({"sweep", dir + "/bad.json", "--parallel", "0", "--db", dir + "/p.db"}, dir).code, 2);
  EXPECT_EQ(cli({"sweep", "--resume", "x", "--db", dir + "/p.db"}, dir).code, 2);
  r = cli({"sweep", "--resume", "5", "--db", dir + "/p.db"}, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no sweep with id 5"), std::string::npos) << r.err;
  EXPECT_EQ(cli({"runs", "list", "--sweep", "0", "--db", dir + "/p.db"}, dir).code, 2);
}
