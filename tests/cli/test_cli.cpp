// perceptra-cli end to end: help and exit codes, train --json events,
// eval/predict/export round trip, runs list/show/compare, and resume after
// the training process is SIGKILLed mid-run.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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

// Runs the CLI with argv (no shell), capturing stdout and stderr; `env`
// entries ("NAME=value", or "NAME" to unset) change the inherited environment.
Result cli(const std::vector<std::string>& args, const std::string& dir, const std::vector<std::string>& env = {}) {
  std::string out = dir + "/stdout.txt", err = dir + "/stderr.txt";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());  // relative paths land in dir
  std::vector<std::string> all = {PERCEPTRA_CLI};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string s = *e, name = s.substr(0, s.find('='));
    bool replaced = false;
    for (auto& x : env) replaced |= x.substr(0, x.find('=')) == name;
    if (!replaced) env_strings.push_back(s);
  }
  for (auto& x : env)
    if (x.find('=') != std::string::npos) env_strings.push_back(x);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  pid_t pid;
  Result r;
  if (posix_spawn(&pid, PERCEPTRA_CLI, &fa, nullptr, argv.data(), envp.data()) != 0) return r;
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

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = perceptra::test::make_temp_dir("cli");
    data = perceptra::test::make_tiny_dataset(dir + "/data", 3, 40, 12);
    db = dir + "/p.db";
    std::ofstream(dir + "/tiny.json") << perceptra::test::tiny_mlp_spec().dump();
  }
  void TearDown() override { fs::remove_all(dir); }
  std::vector<std::string> train_args(int epochs) {
    return {"train",
            "--data",
            data,
            "--model",
            dir + "/tiny.json",
            "--epochs",
            std::to_string(epochs),
            "--batch-size",
            "16",
            "--lr",
            "0.05",
            "--device",
            "cpu",
            "--db",
            db,
            "--out",
            dir + "/runs",
            "--json"};
  }
  std::string dir, data, db;
};

}  // namespace

TEST_F(Cli, HelpForEveryCommandAndUsageExitCodes) {
  for (const char* c : {"train", "eval", "predict", "export", "lr-find", "runs", "resume"}) {
    Result r = cli({c, "--help"}, dir);
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_NE(r.out.find("usage: perceptra-cli"), std::string::npos) << c;
  }
  EXPECT_EQ(cli({"--help"}, dir).code, 0);
  EXPECT_EQ(cli({}, dir).code, 2);
  EXPECT_EQ(cli({"nonsense"}, dir).code, 2);
  Result r = cli({"train", "--model", "mlp"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--data"), std::string::npos);
  EXPECT_EQ(cli({"train", "--data", data, "--model", "mlp", "--bogus"}, dir).code, 2);
  EXPECT_EQ(cli({"train", "--data", data, "--model", "mlp", "--epochs", "x"}, dir).code, 2);
  EXPECT_EQ(cli({"train", "--data", data, "--model", "mlp", "--epochs", "0"}, dir).code, 2);
  EXPECT_EQ(cli({"train", "--data", data, "--model", "mlp", "--optimizer", "rmsprop"}, dir).code, 2);
  EXPECT_EQ(cli({"train", "--data", data, "--model", "mlp", "--device", "tpu"}, dir).code, 2);
  EXPECT_EQ(cli({"runs", "frobnicate"}, dir).code, 2);
  EXPECT_EQ(cli({"resume", "abc"}, dir).code, 2);
  EXPECT_EQ(cli({"export", "--model", "x", "--format", "zip", "--out", "y"}, dir).code, 2);
}

TEST_F(Cli, BadDataAndBadModelExitOne) {
  Result r =
      cli({"train", "--data", dir + "/nowhere", "--model", "mlp", "--db", db, "--out", dir + "/runs", "--json"}, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
  auto ev = json_lines(r.out);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back()["event"], "train_end");
  EXPECT_EQ(ev.back()["reason"], "error");
  std::ofstream(dir + "/garbage.pmodel") << "not a model";
  r = cli({"eval", "--model", dir + "/garbage.pmodel", "--data", data}, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("garbage.pmodel"), std::string::npos) << r.err;
  r = cli({"runs", "show", "42", "--db", db}, dir);
  EXPECT_EQ(r.code, 1);
}

TEST_F(Cli, TrainJsonThenEvalPredictExportRunsRoundTrip) {
  Result r = cli(train_args(2), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ev = json_lines(r.out);
  int batches = 0, epochs = 0;
  json end;
  for (auto& e : ev) {
    if (e["event"] == "batch_end") ++batches;
    if (e["event"] == "epoch_end") {
      ++epochs;
      for (const char* k : {"train_loss", "valid_loss", "valid_accuracy", "images_per_s"})
        EXPECT_TRUE(e.contains(k) && e[k].is_number()) << k;
    }
    if (e["event"] == "train_end") end = e;
  }
  EXPECT_EQ(epochs, 2);
  EXPECT_EQ(batches, 12);  // 96 training images / 16
  ASSERT_EQ(end["reason"], "done");
  std::string model = end["model_path"];
  ASSERT_TRUE(fs::exists(model));
  int64_t run = end["run_id"];

  // eval: same accuracy as the last epoch's validation when evaluating the
  // same 20 % split.
  r = cli({"eval", "--model", model, "--data", data, "--valid-pct", "20", "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json e = json::parse(r.out);
  double last_acc = 0;
  for (auto& x : ev)
    if (x["event"] == "epoch_end") last_acc = x["valid_accuracy"];
  EXPECT_EQ(e["samples"], 24);
  EXPECT_NEAR(e["accuracy"].get<double>(), last_acc, 1e-9);
  EXPECT_EQ(e["confusion"].size(), 3u);
  // Inference speed of the forward passes alone: timed inside the whole pass.
  EXPECT_GT(e["forward_seconds"].get<double>(), 0.0);
  EXPECT_LE(e["forward_seconds"].get<double>(), e["seconds"].get<double>());
  EXPECT_NEAR(e["images_per_s"].get<double>(), 24 / e["forward_seconds"].get<double>(), 1e-6);

  // eval --precision: f32 is the default and says so; bf16 runs where the
  // CPU has AVX-512 BF16 (read here from /proc/cpuinfo, independently of
  // the backend's check) and keeps the accuracy, else it is refused by
  // name before anything is read; other values are usage errors.
  EXPECT_EQ(e["arithmetic"], "f32");
  r = cli({"eval", "--model", model, "--data", data, "--valid-pct", "20", "--precision", "f16"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--precision must be f32 or bf16"), std::string::npos) << r.err;
  bool bf16_cpu = false;
  {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line))
      if (line.rfind("flags", 0) == 0) {
        bf16_cpu = line.find(" avx512_bf16") != std::string::npos;
        break;
      }
  }
  r = cli({"eval", "--model", model, "--data", data, "--valid-pct", "20", "--precision", "bf16", "--json"}, dir);
  if (bf16_cpu) {
    ASSERT_EQ(r.code, 0) << r.err;
    const json b = json::parse(r.out);
    EXPECT_EQ(b["arithmetic"], "bf16");
    EXPECT_NEAR(b["accuracy"].get<double>(), last_acc, 2.0 / 24);  // at most two of 24 images change
  } else {
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("--precision bf16: "), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }

  // predict two images of known classes.
  std::string img_a = data + "/class_a/img_0.pgm", img_c = data + "/class_c/img_1.pgm";
  r = cli({"predict", "--model", model, "--json", img_a, img_c}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto preds = json_lines(r.out);
  ASSERT_EQ(preds.size(), 2u);
  EXPECT_EQ(preds[0]["class"], "class_a");
  EXPECT_EQ(preds[1]["class"], "class_c");
  EXPECT_GT(preds[0]["probability"].get<double>(), 0.34);
  // --top at least the class count: every class once, best first, the
  // probabilities summing to 1; a smaller --top lists exactly that many.
  r = cli({"predict", "--model", model, "--json", "--top", "10", img_a}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json all = json_lines(r.out).at(0);
  ASSERT_EQ(all["top"].size(), 3u);
  std::set<std::string> seen_classes;
  double sum = 0, prev = 2;
  for (auto& t : all["top"]) {
    seen_classes.insert(t["class"].get<std::string>());
    double p = t["probability"].get<double>();
    EXPECT_LE(p, prev);
    prev = p;
    sum += p;
  }
  EXPECT_EQ(seen_classes, (std::set<std::string>{"class_a", "class_b", "class_c"}));
  EXPECT_NEAR(sum, 1.0, 1e-5);
  EXPECT_EQ(all["top"][0]["class"], all["class"]);
  r = cli({"predict", "--model", model, "--json", "--top", "2", img_a}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json_lines(r.out).at(0)["top"].size(), 2u);
  r = cli({"predict", "--model", model, dir + "/missing.png"}, dir);
  EXPECT_EQ(r.code, 1);

  // export native + onnx; the native copy evaluates identically.
  r = cli({"export", "--model", model, "--format", "native", "--out", dir + "/copy.pmodel"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  r = cli({"export", "--model", model, "--format", "onnx", "--out", dir + "/m.onnx"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GT(fs::file_size(dir + "/m.onnx"), 1000u);
  // --format inferred from the --out extension; required otherwise.
  r = cli({"export", "--model", model, "--out", dir + "/inferred.onnx"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(fs::file_size(dir + "/inferred.onnx"), fs::file_size(dir + "/m.onnx"));
  r = cli({"export", "--model", model, "--out", dir + "/inferred.pmodel"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("(native)"), std::string::npos) << r.err;
  r = cli({"eval", "--model", dir + "/inferred.pmodel", "--data", data, "--valid-pct", "20", "--json"}, dir);
  EXPECT_EQ(r.code, 0) << r.err;
  r = cli({"export", "--model", model, "--out", dir + "/m.bin"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--format"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/m.bin"));
  r = cli({"eval", "--model", dir + "/copy.pmodel", "--data", data, "--valid-pct", "20", "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["accuracy"], e["accuracy"]);

  // runs list/show/compare.
  r = cli({"runs", "list", "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json runs = json::parse(r.out);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["id"], run);
  EXPECT_EQ(runs[0]["status"], "finished");
  EXPECT_EQ(runs[0]["epochs"], 2);  // completed epochs, not the last 0-based index
  r = cli({"runs", "list", "--db", db}, dir);
  EXPECT_NE(r.out.find("finished"), std::string::npos);
  {
    // The EPOCHS column (right-aligned under its header) says 2.
    std::stringstream ss(r.out);
    std::string header, row;
    std::getline(ss, header);
    std::getline(ss, row);
    size_t at = header.find("EPOCHS");
    ASSERT_NE(at, std::string::npos) << r.out;
    ASSERT_GE(row.size(), at + 6) << r.out;
    EXPECT_EQ(row.substr(at, 6), "     2") << r.out;
  }
  r = cli({"runs", "show", std::to_string(run), "--db", db}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("valid_acc"), std::string::npos);
  {
    // Epoch rows: the last column (img/s) is a whole number.
    std::stringstream ss(r.out);
    std::string line;
    int rows = 0;
    bool in_table = false;
    while (std::getline(ss, line)) {
      if (line.find("img/s") != std::string::npos) {
        in_table = true;
        continue;
      }
      if (!in_table) continue;
      if (line.find_first_not_of(' ') == std::string::npos) break;
      std::string last = line.substr(line.find_last_of(' ') + 1);
      EXPECT_EQ(last.find('.'), std::string::npos) << line;
      EXPECT_GT(std::stod(last), 0) << line;
      ++rows;
    }
    EXPECT_EQ(rows, 2) << r.out;
  }
  ASSERT_EQ(cli(train_args(1), dir).code, 0);
  r = cli({"runs", "compare", std::to_string(run), std::to_string(run + 1), "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["runs"].size(), 2u);
}

TEST_F(Cli, LrFindPrintsSuggestion) {
  Result r = cli(
      {"lr-find", "--data", data, "--model", dir + "/tiny.json", "--iters", "20", "--batch-size", "16", "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_GT(j["suggested_lr"].get<double>(), 0);
  EXPECT_GE(j["lrs"].size(), 5u);
}

// lr-find's help lists only the flags it uses; train-only ones are refused.
TEST_F(Cli, LrFindHelpListsOnlyItsOptions) {
  Result h = cli({"lr-find", "--help"}, dir);
  ASSERT_EQ(h.code, 0);
  for (const char* used : {"--data", "--model", "--batch-size", "--optimizer", "--from", "--iters"})
    EXPECT_NE(h.out.find(used), std::string::npos) << used;
  for (const char* unused :
       {"--epochs", "--lr ", "--schedule", "--out", "--db", "--notify", "--early-stop", "--max-batches", "--name"})
    EXPECT_EQ(h.out.find(unused), std::string::npos) << unused;
  Result t = cli({"train", "--help"}, dir);
  for (const char* all : {"--epochs", "--lr ", "--db", "--notify-each-epoch"})
    EXPECT_NE(t.out.find(all), std::string::npos) << all;
  Result r = cli({"lr-find", "--data", data, "--model", "mlp", "--epochs", "3"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--epochs"), std::string::npos) << r.err;
}

// Starts the CLI with stdout on a pipe we read (stderr discarded); null on failure.
static FILE* spawn_cli_reading_stdout(const std::vector<std::string>& args, pid_t& pid) {
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

TEST_F(Cli, ResumeAfterKillContinuesTheRun) {
  // Enough epochs that the kill lands mid-run; stdout is a pipe we read.
  auto args = train_args(40);
  pid_t pid = 0;
  FILE* f = spawn_cli_reading_stdout(args, pid);
  ASSERT_NE(f, nullptr);
  // Read events until epoch 2 has ended, then kill -9.
  char line[1 << 16];
  int epochs_seen = 0;
  int64_t run = 0;
  while (fgets(line, sizeof line, f)) {
    json e = json::parse(line);
    if (e["event"] == "train_begin") run = e["run_id"];
    if (e["event"] == "epoch_end" && ++epochs_seen == 2) break;
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  fclose(f);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_GT(run, 0);

  Result r = cli({"runs", "list", "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)[0]["status"], "interrupted");

  // Shorten the run so the test stays quick: continue to 4 epochs in total.
  r = cli({"resume", std::to_string(run), "--db", db, "--epochs", "4", "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ev = json_lines(r.out);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.front()["event"], "log");
  json begin, end;
  for (auto& e : ev) {
    if (e["event"] == "train_begin") begin = e;
    if (e["event"] == "train_end") end = e;
  }
  EXPECT_TRUE(begin["resumed"].get<bool>());
  EXPECT_GE(begin["start_epoch"].get<int>(), 2);  // lost at most the epoch in progress
  EXPECT_EQ(end["reason"], "done");
  EXPECT_EQ(end["epochs_completed"], 4);
  EXPECT_EQ(end["run_id"], run);
  r = cli({"runs", "list", "--db", db, "--json"}, dir);
  EXPECT_EQ(json::parse(r.out)[0]["status"], "finished");
  // The batches re-trained after the kill are not recorded twice.
  r = cli({"runs", "show", std::to_string(run), "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto steps = json::parse(r.out)["metrics"]["train_loss"]["steps"].get<std::vector<int64_t>>();
  EXPECT_EQ(steps.size(), 4u * 6u);
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i], static_cast<int64_t>(i));
  // A finished run is not resumed again without more epochs.
  EXPECT_EQ(cli({"resume", std::to_string(run), "--db", db}, dir).code, 1);
}

TEST_F(Cli, CtrlCStopsGracefullyAndResumeFinishes) {
  auto args = train_args(40);
  pid_t pid = 0;
  FILE* f = spawn_cli_reading_stdout(args, pid);
  ASSERT_NE(f, nullptr);
  char line[1 << 16];
  int64_t run = 0;
  bool sent = false;
  json end;
  while (fgets(line, sizeof line, f)) {
    json e = json::parse(line);
    if (e["event"] == "train_begin") run = e["run_id"];
    if (e["event"] == "batch_end" && e["step"] == 8 && !sent) {
      kill(pid, SIGINT);
      sent = true;
    }
    if (e["event"] == "train_end") end = e;
  }
  fclose(f);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_EQ(end["reason"], "stopped");
  EXPECT_FALSE(end["checkpoint_path"].get<std::string>().empty());
  Result r = cli({"runs", "list", "--db", db, "--json"}, dir);
  EXPECT_EQ(json::parse(r.out)[0]["status"], "stopped");
  r = cli({"resume", std::to_string(run), "--db", db, "--epochs", "3", "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ev = json_lines(r.out);
  EXPECT_EQ(ev.back()["reason"], "done");
  EXPECT_EQ(ev.back()["epochs_completed"], 3);
}

TEST_F(Cli, ConfigFileWithFlagOverridesAndFieldErrors) {
  json cfg = {{"data", data},  {"model", dir + "/tiny.json"}, {"epochs", 5},    {"batch_size", 16},
              {"db_path", db}, {"out_dir", dir + "/runs"},    {"device", "cpu"}};
  std::ofstream(dir + "/cfg.json") << cfg.dump();
  Result r = cli({"train", "--config", dir + "/cfg.json", "--epochs", "1", "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ev = json_lines(r.out);
  EXPECT_EQ(ev.back()["epochs_completed"], 1);
  cfg["batch_size"] = -3;
  std::ofstream(dir + "/bad.json") << cfg.dump();
  r = cli({"train", "--config", dir + "/bad.json"}, dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("batch_size"), std::string::npos) << r.err;
}

// Two databases sharing one --out: the second database's run 1 must not
// overwrite the first database's run-1 files (QA repro, with the env var).
TEST_F(Cli, RunsOfAnotherDatabaseDoNotOverwriteRunFolders) {
  auto args = train_args(1);
  Result a = cli(args, dir);
  ASSERT_EQ(a.code, 0) << a.err;
  std::string a_model = json_lines(a.out).back()["model_path"];
  EXPECT_EQ(fs::path(a_model).parent_path().filename().string(), "run-1");
  auto a_size = fs::file_size(a_model);
  auto a_time = fs::last_write_time(a_model);
  // Same --out, other database via $PERCEPTRA_DB, another model.
  std::vector<std::string> b_args;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--db") {
      ++i;
      continue;
    }
    b_args.push_back(args[i] == dir + "/tiny.json" ? "mlp" : args[i]);
  }
  Result b = cli(b_args, dir, {"PERCEPTRA_DB=" + dir + "/b.db"});
  ASSERT_EQ(b.code, 0) << b.err;
  std::string b_model = json_lines(b.out).back()["model_path"];
  EXPECT_NE(b_model, a_model);
  EXPECT_EQ(fs::path(b_model).parent_path().filename().string(), "run-1-2");
  EXPECT_EQ(fs::file_size(a_model), a_size);
  EXPECT_EQ(fs::last_write_time(a_model), a_time);
  EXPECT_TRUE(fs::exists(dir + "/b.db"));
}

// PERCEPTRA_DB=- means no database, as --db - does: no file named '-'.
TEST_F(Cli, DatabaseDashFromEnvironmentMeansNone) {
  std::vector<std::string> args;
  auto all = train_args(1);
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == "--db") {
      ++i;
      continue;
    }
    args.push_back(all[i]);
  }
  Result r = cli(args, dir, {"PERCEPTRA_DB=-"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto ev = json_lines(r.out);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back()["reason"], "done");
  EXPECT_EQ(ev.back()["run_id"], 0);  // not recorded
  EXPECT_FALSE(fs::exists(dir + "/-"));
  for (auto cmd : std::vector<std::vector<std::string>>{{"runs", "list"}, {"resume", "1"}}) {
    Result l = cli(cmd, dir, {"PERCEPTRA_DB=-"});
    EXPECT_EQ(l.code, 2) << cmd[0];
    EXPECT_NE(l.err.find("PERCEPTRA_DB"), std::string::npos) << l.err;
    EXPECT_FALSE(fs::exists(dir + "/-")) << cmd[0];
  }
  Result l = cli({"runs", "list", "--db", "-"}, dir);
  EXPECT_EQ(l.code, 2);
  EXPECT_FALSE(fs::exists(dir + "/-"));
}

// --device auto on a machine that trains on the CPU: a build without CUDA
// says nothing about CUDA; a CUDA build without a device says it once, as
// information (quiet with --quiet, an info event with --json).
TEST_F(Cli, AutoDeviceNoteOnlyWhenCudaIsBuiltIn) {
  auto args = train_args(1);
  for (auto& a : args)
    if (a == "cpu") a = "auto";
  args.insert(args.end(), {"--max-batches", "1"});
  Result r = cli(args, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto ev = json_lines(r.out);
  json begin;
  for (auto& e : ev) {
    if (e["event"] == "train_begin") begin = e;
    if (e["event"] == "log" && e.value("text", "").find("CUDA") != std::string::npos) {
      EXPECT_EQ(e["level"], "info") << e.dump();
    }
  }
  ASSERT_FALSE(begin.is_null()) << r.out;
  std::string note = begin["device_note"];
  if (begin["device"] == "cpu" && note.empty()) {
    EXPECT_EQ(r.err.find("CUDA"), std::string::npos) << r.err;  // no-CUDA build
  }
  if (!note.empty()) {
    EXPECT_EQ(r.err.find("note: CUDA"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(note), std::string::npos) << r.err;
  }
  args.push_back("--quiet");
  args.erase(std::find(args.begin(), args.end(), "--json"));
  r = cli(args, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("CUDA"), std::string::npos) << r.err;
}

// Errors in a model spec file name the file, not only the layer.
TEST_F(Cli, SpecFileErrorsNameTheFile) {
  json typo = perceptra::test::tiny_mlp_spec();
  typo["layers"][1]["out_featurez"] = 3;  // unknown field
  std::ofstream(dir + "/typo.json") << typo.dump();
  json wrong = perceptra::test::tiny_mlp_spec();
  wrong["classes"] = 7;  // the data has 3
  std::ofstream(dir + "/wrong.json") << wrong.dump();
  for (const char* f : {"typo.json", "wrong.json"}) {
    auto args = train_args(1);
    for (auto& a : args)
      if (a == dir + "/tiny.json") a = dir + "/" + f;
    Result r = cli(args, dir);
    EXPECT_EQ(r.code, 1) << f;
    EXPECT_NE(r.err.find(dir + "/" + f + ": "), std::string::npos) << r.err;
  }
}

// --dry-run prints the cost estimate and exits 0 without training or
// writing anything; a run over the memory limit is refused with the numbers
// (exit 1), --force trains it anyway; --json carries the estimate and the
// run's notes as log events.
TEST_F(Cli, DryRunEstimatesAndTheGuardRefusesOverTheLimit) {
  std::vector<std::string> big = {"train",      "--data",   data,  "--image-size", "160", "--model",
                                  "simplecnn",  "--epochs", "1",   "--batch-size", "64",  "--max-batches",
                                  "1",          "--device", "cpu", "--db",         db,    "--out",
                                  dir + "/runs"};
  auto with = [&](std::vector<std::string> extra) {
    auto a = big;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  Result d = cli(with({"--dry-run"}), dir);
  ASSERT_EQ(d.code, 0) << d.err;
  for (const char* k : {"parameters", "activations per training batch", "projected peak memory (training)",
                        "FLOPs per image", "expected speed", "memory limit"})
    EXPECT_NE(d.out.find(k), std::string::npos) << k << " missing from\n" << d.out;
  EXPECT_FALSE(fs::exists(db));
  EXPECT_FALSE(fs::exists(dir + "/runs"));
  Result dj = cli(with({"--dry-run", "--json"}), dir, {"PERCEPTRA_MEMORY_LIMIT_MB=200"});
  ASSERT_EQ(dj.code, 0) << dj.err;
  json e = json::parse(dj.out);
  EXPECT_EQ(e["event"], "cost_estimate");
  EXPECT_EQ(e["verdict"], "too large");
  EXPECT_EQ(e["memory_limit_bytes"].get<int64_t>(), int64_t(200) << 20);
  EXPECT_GT(e["peak_train_bytes"].get<int64_t>(), int64_t(200) << 20);

  Result refused = cli(big, dir, {"PERCEPTRA_MEMORY_LIMIT_MB=200"});
  EXPECT_EQ(refused.code, 1) << refused.err;
  EXPECT_NE(refused.err.find("memory: this run would need about"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(dir + "/runs"));

  Result forced = cli(with({"--force", "--json"}), dir, {"PERCEPTRA_MEMORY_LIMIT_MB=200"});
  ASSERT_EQ(forced.code, 0) << forced.err;
  bool forced_note = false, estimate_note = false;
  for (auto& j : json_lines(forced.out))
    if (j["event"] == "log") {
      const std::string t = j["text"].get<std::string>();
      forced_note |= t.find("forced past the memory guard") != std::string::npos;
      estimate_note |= t.find("cost estimate") != std::string::npos;
    }
  EXPECT_TRUE(forced_note);
  EXPECT_TRUE(estimate_note);
  EXPECT_NE(forced.err.find("forced past the memory guard"), std::string::npos) << forced.err;
}

// --from says what it adapted, on stderr and as JSON log events.
TEST_F(Cli, TransferAdaptationsAreReported) {
  Result base = cli(train_args(1), dir);
  ASSERT_EQ(base.code, 0) << base.err;
  std::string model;
  for (auto& j : json_lines(base.out))
    if (j["event"] == "train_end") model = j["model_path"];
  ASSERT_FALSE(model.empty());
  const std::string two = perceptra::test::make_tiny_dataset(dir + "/two", 2, 20, 16);
  Result r = cli(
      {"train", "--data",       two,  "--from",   model, "--epochs", "2", "--freeze-epochs", "1",           "--lr-mult",
       "16",    "--batch-size", "16", "--device", "cpu", "--db",     db,  "--out",           dir + "/runs", "--json"},
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* k : {"decoded to [1, 12, 12]", "is replaced by a new one with 2 outputs",
                        "frozen for the first 1 epoch", "first body layers lr/16, middle lr/4, head lr"})
    EXPECT_NE(r.err.find(k), std::string::npos) << k << " not on stderr:\n" << r.err;
  int logs = 0;
  for (auto& j : json_lines(r.out))
    if (j["event"] == "log" && j["text"].get<std::string>().find("replaced by a new one") != std::string::npos) ++logs;
  EXPECT_EQ(logs, 1);

  // --lr-mult belongs to --from, and below 1 it would speed the body up.
  Result alone = cli({"train", "--data", two, "--model", "mlp", "--lr-mult", "10", "--db", db}, dir);
  EXPECT_EQ(alone.code, 2) << alone.err;
  EXPECT_NE(alone.err.find("'--lr-mult' needs '--from MODEL'"), std::string::npos) << alone.err;
  Result low = cli({"train", "--data", two, "--from", model, "--lr-mult", "0.5", "--db", db}, dir);
  EXPECT_NE(low.code, 0);
  EXPECT_NE(low.err.find("lr_mult"), std::string::npos) << low.err;
}
