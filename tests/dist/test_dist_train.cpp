// Data-parallel training end to end: `mpirun -np 2 perceptra-cli train
// --distributed` against one process on the same global batch (same losses
// and same final weights), a rank killed mid-run (the run is left
// interrupted, the database intact, and `resume --distributed` continues
// it), and --distributed without a launcher.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/io/model_file.h"
#include "core/nn/layer.h"
#include "core/nn/model.h"
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

pid_t spawn(const std::vector<std::string>& all, const std::string& out, const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
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

// Waits up to `seconds`; kills the process (and returns -1) on timeout.
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
  pid_t pid = spawn(all, dir + "/out.txt", dir + "/err.txt");
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

std::vector<double> batch_losses(const std::vector<json>& ev) {
  std::vector<double> l;
  for (auto& e : ev)
    if (e["event"] == "batch_end") l.push_back(e["loss"]);
  return l;
}

std::string model_path(const std::vector<json>& ev) {
  for (auto& e : ev)
    if (e["event"] == "train_end") return e["model_path"];
  return "";
}

std::vector<std::string> mpirun(int np) {
  return {PERCEPTRA_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", std::to_string(np)};
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

// Pid of the process with OMPI_COMM_WORLD_RANK=rank among `parent`'s children.
pid_t rank_pid(pid_t parent, int rank) {
  for (auto& d : fs::directory_iterator("/proc")) {
    std::string name = d.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = slurp(d.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid != parent) continue;
    std::string env = slurp(d.path() / "environ");
    std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
    for (size_t i = 0; i < env.size();) {
      size_t end = env.find('\0', i);
      if (end == std::string::npos) end = env.size();
      if (env.compare(i, end - i, want) == 0) return pid_t(std::stol(name));
      i = end + 1;
    }
  }
  return -1;
}

class DistTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = perceptra::test::make_temp_dir("disttrain");
    data = perceptra::test::make_tiny_dataset(dir + "/data", 3, 40, 12);
    std::ofstream(dir + "/tiny.json") << perceptra::test::tiny_mlp_spec().dump();
  }
  void TearDown() override { fs::remove_all(dir); }
  std::vector<std::string> train(int epochs, int batch, const std::string& db, const std::string& out) {
    return {PERCEPTRA_CLI,  "train",
            "--data",       data,
            "--model",      dir + "/tiny.json",
            "--epochs",     std::to_string(epochs),
            "--batch-size", std::to_string(batch),
            "--lr",         "0.05",
            "--device",     "cpu",
            "--threads",    "1",
            "--seed",       "3",
            "--db",         db,
            "--out",        dir + "/" + out,
            "--json"};
  }
  std::string dir, data;
};

}  // namespace

// Global batch 16: one process takes all 16 rows, two ranks 8 each with the
// gradients averaged. The same losses step by step and the same final
// weights, to float tolerance (only the summation order differs).
TEST_F(DistTrain, TwoRanksMatchOneProcessOnTheGlobalBatch) {
  Result one = run(train(2, 16, "-", "single"), dir);
  ASSERT_EQ(one.code, 0) << one.err;
  auto cmd = mpirun(2);
  auto t = train(2, 16, dir + "/d.db", "runs");
  cmd.insert(cmd.end(), t.begin(), t.end());
  cmd.push_back("--distributed");
  Result two = run(cmd, dir);
  ASSERT_EQ(two.code, 0) << two.err << two.out;
  auto ev1 = json_lines(one.out), ev2 = json_lines(two.out);
  auto l1 = batch_losses(ev1), l2 = batch_losses(ev2);
  ASSERT_EQ(l1.size(), 2u * 6u);  // 96 training images / 16, twice
  ASSERT_EQ(l2.size(), l1.size()) << "only rank 0 prints events";
  double worst = 0;
  for (size_t i = 0; i < l1.size(); ++i) worst = std::max(worst, std::abs(l1[i] - l2[i]) / std::max(1.0, l1[i]));
  EXPECT_LT(worst, 1e-5) << "largest relative loss difference";
  // The final weights.
  auto m1 = perceptra::load_model(model_path(ev1)), m2 = perceptra::load_model(model_path(ev2));
  auto p1 = m1.model->parameters(), p2 = m2.model->parameters();
  ASSERT_EQ(p1.size(), p2.size());
  double wmax = 0;
  for (size_t i = 0; i < p1.size(); ++i) {
    auto a = p1[i]->value.to_vector(), b = p2[i]->value.to_vector();
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) wmax = std::max(wmax, double(std::abs(a[k] - b[k])));
  }
  EXPECT_LT(wmax, 1e-5) << "largest weight difference after 12 steps";
  std::cout << "[ measured ] over " << l1.size() << " steps: max relative loss difference " << worst
            << ", max weight difference " << wmax << "\n";
  // Validation saw the same weights: the same accuracy.
  std::vector<double> a1, a2;
  for (auto& e : ev1)
    if (e["event"] == "epoch_end") a1.push_back(e["valid_accuracy"]);
  for (auto& e : ev2)
    if (e["event"] == "epoch_end") a2.push_back(e["valid_accuracy"]);
  ASSERT_EQ(a1.size(), 2u);
  ASSERT_EQ(a2.size(), 2u);
  for (size_t i = 0; i < a1.size(); ++i) EXPECT_NEAR(a1[i], a2[i], 1e-9);
  // One run in the store, written by rank 0; one run folder.
  Result list = run({PERCEPTRA_CLI, "runs", "list", "--db", dir + "/d.db", "--json"}, dir);
  ASSERT_EQ(list.code, 0) << list.err;
  auto runs = json::parse(list.out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["status"], "finished");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir + "/runs"), fs::directory_iterator{}), 1);
}

// A model with BatchNorm, global batch 16: with --sync-bn two ranks of 8
// rows normalise with the statistics of all 16, so their losses match one
// process on the whole batch (float tolerance: the statistics are summed in
// a different order, in double, on the host). Without --sync-bn each rank
// normalises with its 8 rows and the losses differ visibly.
TEST_F(DistTrain, SyncBatchNormTwoRanksMatchOneProcess) {
  json bn = {{"name", "tiny-bn"},
             {"layers",
              {{{"type", "conv2d"}, {"out_channels", 4}, {"kernel", 3}, {"padding", 1}, {"bias", false}},
               {{"type", "batchnorm2d"}},
               {{"type", "relu"}},
               {{"type", "flatten"}},
               {{"type", "linear"}, {"out_features", 16}},
               {{"type", "batchnorm1d"}},
               {{"type", "relu"}},
               {{"type", "linear"}, {"out_features", 3}}}}};
  std::ofstream(dir + "/tiny.json") << bn.dump();
  Result one = run(train(2, 16, "-", "single"), dir);
  ASSERT_EQ(one.code, 0) << one.err;
  auto l1 = batch_losses(json_lines(one.out));
  ASSERT_EQ(l1.size(), 2u * 6u);
  auto distributed = [&](bool sync, const std::string& name) {
    auto cmd = mpirun(2);
    auto t = train(2, 16, dir + "/" + name + ".db", name);
    cmd.insert(cmd.end(), t.begin(), t.end());
    cmd.push_back("--distributed");
    if (sync) cmd.push_back("--sync-bn");
    Result r = run(cmd, dir);
    EXPECT_EQ(r.code, 0) << r.err << r.out;
    return batch_losses(json_lines(r.out));
  };
  auto worst_of = [&](const std::vector<double>& l2) {
    double worst = 0;
    for (size_t i = 0; i < l1.size() && i < l2.size(); ++i)
      worst = std::max(worst, std::abs(l1[i] - l2[i]) / std::max(1.0, l1[i]));
    return worst;
  };
  auto synced = distributed(true, "sync");
  ASSERT_EQ(synced.size(), l1.size());
  const double worst = worst_of(synced);
  EXPECT_LT(worst, 1e-5) << "largest relative loss difference with --sync-bn";
  auto local = distributed(false, "local");
  ASSERT_EQ(local.size(), l1.size());
  const double unsynced = worst_of(local);
  EXPECT_GT(unsynced, 10 * worst) << "without --sync-bn the per-rank statistics should show";
  std::cout << "[ measured ] sync BN over " << l1.size() << " steps: max relative loss difference " << worst
            << " (without --sync-bn: " << unsynced << ")\n";
}

TEST_F(DistTrain, AKilledRankLeavesTheRunInterruptedAndResumable) {
  const std::string db = dir + "/k.db";
  auto cmd = mpirun(2);
  auto t = train(200, 16, db, "runs");
  cmd.insert(cmd.end(), t.begin(), t.end());
  cmd.push_back("--distributed");
  pid_t mpi = spawn(cmd, dir + "/out.txt", dir + "/err.txt");
  ASSERT_GT(mpi, 0);
  // Wait for two epochs (their checkpoint is on disk), then kill rank 1.
  auto t0 = std::chrono::steady_clock::now();
  int64_t run_id = 0;
  int epochs = 0;
  while (true) {
    epochs = 0;
    for (auto& e : json_lines(slurp(dir + "/out.txt"))) {
      if (e["event"] == "train_begin") run_id = e["run_id"];
      epochs += e["event"] == "epoch_end";
    }
    if (epochs >= 2) break;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(180)) {
      kill(mpi, SIGKILL);
      wait_for(mpi, 10);
      FAIL() << "no two epochs in 180 s: " << slurp(dir + "/err.txt");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  pid_t r0 = rank_pid(mpi, 0), r1 = rank_pid(mpi, 1);
  ASSERT_GT(r0, 0) << "rank 0 not found among mpirun's children";
  ASSERT_GT(r1, 0) << "rank 1 not found among mpirun's children";
  kill(r1, SIGKILL);
  int code = wait_for(mpi, 90);
  EXPECT_NE(code, 0);
  EXPECT_NE(code, -1) << "the job did not end after a rank died";
  // Rank 0 (killed by mpirun, or ended on its own) is gone too once the
  // system has reaped it (an orphaned zombie for a moment, which the store
  // would still take for the run's live owner).
  for (int i = 0; i < 600 && fs::exists("/proc/" + std::to_string(r0)); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(fs::exists("/proc/" + std::to_string(r0))) << "rank 0 still exists 30 s after the job ended";
  ASSERT_GT(run_id, 0);
  EXPECT_EQ(integrity(db), "ok");
  Result list = run({PERCEPTRA_CLI, "runs", "list", "--db", db, "--json"}, dir);
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(json::parse(list.out)[0]["status"], "interrupted") << slurp(dir + "/err.txt");
  // Resume, data-parallel again, to a few epochs past the kill (output lags
  // behind the run, so the checkpoint may be a little further than `epochs`):
  // it continues from the checkpoint.
  const int target = epochs + 20;
  auto res = mpirun(2);
  for (std::string a : {std::string(PERCEPTRA_CLI), std::string("resume"), std::to_string(run_id), std::string("--db"),
                        db, std::string("--epochs"), std::to_string(target), std::string("--threads"), std::string("1"),
                        std::string("--distributed"), std::string("--json")})
    res.push_back(a);
  Result r = run(res, dir);
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  json begin, end;
  for (auto& e : json_lines(r.out)) {
    if (e["event"] == "train_begin") begin = e;
    if (e["event"] == "train_end") end = e;
  }
  EXPECT_TRUE(begin["resumed"].get<bool>());
  EXPECT_GE(begin["start_epoch"].get<int>(), 2);
  EXPECT_LT(begin["start_epoch"].get<int>(), target);
  EXPECT_EQ(end["reason"], "done");
  EXPECT_EQ(end["epochs_completed"], target);
  list = run({PERCEPTRA_CLI, "runs", "list", "--db", db, "--json"}, dir);
  EXPECT_EQ(json::parse(list.out)[0]["status"], "finished");
  EXPECT_EQ(integrity(db), "ok");
}

TEST_F(DistTrain, DistributedWithoutALauncherSaysSo) {
  auto t = train(1, 16, "-", "runs");
  t.push_back("--distributed");
  Result r = run(t, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("mpirun"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/runs")) << "nothing is written";
}
