// The data-fixing loop end to end through perceptra-cli, on a generated
// image folder with planted label errors and duplicates: training writes
// ledgers, `data suspects` ranks the planted errors, `data duplicates`
// finds every planted duplicate (leaks across the split included),
// relabel/exclude/restore make versions, `train --data DIR@latest` trains on
// the new labels and records the version, `data export` writes the cleaned
// copy, and the user's files stay byte-identical. A SIGKILL in the middle of
// a relabel batch or of a ledger write leaves the database consistent.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/curate/ledger.h"
#include "core/store/store.h"
#include "tests/curate/cli_runner.h"
#include "tests/curate/planted_data.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace perceptra;
using perceptra::test::cli;

namespace {

std::map<std::string, std::string> snapshot_files(const std::string& root) {
  std::map<std::string, std::string> out;
  for (auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[e.path().string()] = test::slurp(e.path().string());
  return out;
}

std::string sql_scalar(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(db_path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
  std::string v;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// Waits (up to 60 s) for the stall marker the store writes mid-transaction.
bool wait_for(const std::string& file) {
  for (int i = 0; i < 600; ++i) {
    if (fs::exists(file)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

class CurateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::make_temp_dir("curate-cli");
    planted = test::make_planted_folder(dir + "/planted");
    db = dir + "/p.db";
    std::ofstream(dir + "/tiny.json") << test::tiny_mlp_spec(4).dump();
  }
  void TearDown() override { fs::remove_all(dir); }

  // Trains and returns the run id (0 on failure).
  int64_t train(const std::string& data, int epochs, int seed, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"train",
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
                                     "--seed",
                                     std::to_string(seed),
                                     "--device",
                                     "cpu",
                                     "--db",
                                     db,
                                     "--out",
                                     dir + "/runs",
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = cli(args, dir);
    EXPECT_EQ(r.code, 0) << r.err;
    std::stringstream ss(r.out);
    std::string line;
    while (std::getline(ss, line)) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object() && j.value("event", "") == "train_begin") return j.value("run_id", int64_t(0));
    }
    ADD_FAILURE() << "no train_begin event in: " << r.out;
    return 0;
  }

  std::string dir, db;
  test::PlantedFolder planted;
};

}  // namespace

TEST_F(CurateCli, SuspectsDuplicatesVersionsRetrainAndExport) {
  const auto before = snapshot_files(planted.root);
  const int64_t r1 = train(planted.root, 6, 1);
  const int64_t r2 = train(planted.root, 6, 2);
  ASSERT_GT(r1, 0);
  ASSERT_GT(r2, r1);
  {
    ExperimentStore st(db);
    auto l = read_ledger(st, r1);
    ASSERT_TRUE(l) << "training wrote no ledger";
    EXPECT_EQ(l->entries.size(), planted.all_files.size());
    EXPECT_EQ(st.run(r1).dataset_version, 0);
  }

  // Suspects: the planted label errors in the top 2x.
  const size_t planted_errors = planted.mislabelled.size();
  auto r = cli({"data", "suspects", "--run", std::to_string(r2), "--top", std::to_string(2 * planted_errors), "--json",
                "--db", db},
               dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json s = json::parse(r.out);
  EXPECT_EQ(s["runs_considered"], 2);
  std::set<std::string> top;
  for (const auto& x : s["suspects"]) top.insert(x["image"].get<std::string>());
  EXPECT_LE(top.size(), 2 * planted_errors);
  size_t found = 0;
  for (const auto& m : planted.mislabelled) found += top.count(m);
  const double recall = double(found) / double(planted_errors);
  std::cout << "suspects recall in top " << 2 * planted_errors << ": " << found << " of " << planted_errors << " ("
            << recall << ")\n";
  RecordProperty("suspects_recall_top2x", std::to_string(recall));
  EXPECT_GE(recall, 0.75);
  // The best suspect is wrong in both runs and names what it looks like.
  ASSERT_FALSE(s["suspects"].empty());
  EXPECT_EQ(s["suspects"][0]["runs"], 2);
  for (size_t i = 0; i < planted.mislabelled.size(); ++i)
    for (const auto& x : s["suspects"])
      if (x["image"] == planted.mislabelled[i] && x["runs_wrong"] == 2) {
        EXPECT_EQ(x["predicted"], planted.true_class[i]) << planted.mislabelled[i];
      }
  r = cli({"data", "suspects", "--run", std::to_string(r2), "--db", db}, dir);
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("of 2"), std::string::npos) << r.out;

  // Duplicates: every planted one, with the right flags.
  r = cli({"data", "duplicates", planted.root, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json d = json::parse(r.out);
  EXPECT_EQ(d["images"], planted.all_files.size());
  for (const auto& p : planted.duplicates) {
    const json* group = nullptr;
    for (const auto& g : d["groups"]) {
      std::set<std::string> names;
      for (const auto& m : g["members"]) names.insert(m["image"].get<std::string>());
      if (names.count(p.original) && names.count(p.copy)) group = &g;
    }
    ASSERT_NE(group, nullptr) << "duplicate not found: " << p.copy;
    EXPECT_EQ((*group)["kind"], p.exact ? "exact" : "near") << p.copy;
    EXPECT_EQ((*group)["cross_class"], p.cross_class) << p.copy;
    EXPECT_EQ((*group)["leak"], p.leak) << p.copy;
  }
  EXPECT_EQ(d["groups"].size(), planted.duplicates.size()) << r.out;

  // Versions: relabel the errors of class 0 (one batch), exclude a copy, undo.
  std::vector<std::string> relabel = {"data", "relabel", planted.root};
  std::vector<std::string> fixed;
  for (size_t i = 0; i < planted.mislabelled.size(); ++i)
    if (planted.true_class[i] == 0) fixed.push_back(planted.mislabelled[i]);
  relabel.insert(relabel.end(), fixed.begin(), fixed.end());
  relabel.insert(relabel.end(), {"a_top", "--db", db, "--reason", "planted"});
  r = cli(relabel, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("version 1"), std::string::npos) << r.out;
  const std::string copy = "train/c_bottom/copy_5.pgm";
  EXPECT_EQ(cli({"data", "exclude", planted.root, copy, "--db", db}, dir).code, 0);
  EXPECT_EQ(cli({"data", "restore", planted.root, copy, "--db", db}, dir).code, 0);
  EXPECT_EQ(cli({"data", "exclude", planted.root, "train/nope.pgm", "--db", db}, dir).code, 1);
  EXPECT_EQ(cli({"data", "relabel", planted.root, copy, "giraffe", "--db", db}, dir).code, 1);
  EXPECT_EQ(cli({"data", "restore", planted.root, copy, "--db", db}, dir).code, 1);  // nothing to undo
  r = cli({"data", "versions", planted.root, "--json", "--db", db}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json v = json::parse(r.out);
  ASSERT_EQ(v["versions"].size(), 3u);
  EXPECT_EQ(v["versions"][0]["changes"].size(), fixed.size());
  EXPECT_EQ(v["versions"][0]["reason"], "planted");
  EXPECT_EQ(v["versions"][1]["excluded"], 1);
  EXPECT_EQ(v["versions"][2]["parent"], 2);
  EXPECT_EQ(v["versions"][2]["relabelled"], int(fixed.size()));
  EXPECT_EQ(v["versions"][2]["excluded"], 0);

  // Retraining on the version: the run records it; its ledger shows the new labels.
  const int64_t r3 = train(planted.root + "@latest", 1, 3);
  ASSERT_GT(r3, 0);
  {
    ExperimentStore st(db);
    EXPECT_EQ(st.run(r3).dataset_version, 3);
    EXPECT_EQ(st.run(r3).hparams["data"], planted.root + "@3");
    auto l = read_ledger(st, r3);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->record.dataset_version, 3);
    std::map<std::string, int> label;
    for (const auto& e : l->entries) label[e.image] = e.label;
    for (const auto& f : fixed) EXPECT_EQ(label.at(f), 0) << f;
  }
  r = cli({"runs", "show", std::to_string(r3), "--db", db, "--json"}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["dataset_version"], 3) << r.out;

  // The image's history across the runs.
  r = cli({"data", "history", planted.root, fixed[0], "--json", "--db", db}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json h = json::parse(r.out);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[2]["dataset_version"], 3);
  EXPECT_EQ(h[2]["label"], 0);
  EXPECT_NE(h[0]["label"], 0);

  // The cleaned copy: relabelled images in their class folder, every file there.
  r = cli({"data", "export", planted.root, "--version", "3", "--out", dir + "/clean", "--db", db}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  size_t exported = 0;
  for (auto& e : fs::recursive_directory_iterator(dir + "/clean")) exported += e.is_regular_file();
  EXPECT_EQ(exported, planted.all_files.size());
  for (const auto& f : fixed) {
    const fs::path p(f);
    EXPECT_TRUE(fs::exists(fs::path(dir) / "clean" / *p.begin() / "a_top" / p.filename())) << f;
    EXPECT_FALSE(fs::exists(fs::path(dir) / "clean" / f)) << f;
  }
  EXPECT_EQ(cli({"data", "export", planted.root, "--version", "3", "--out", dir + "/clean", "--db", db}, dir).code,
            1);  // never into a folder with files

  // The user's files are byte-identical after all of it.
  EXPECT_TRUE(snapshot_files(planted.root) == before);
}

TEST_F(CurateCli, KillDuringARelabelBatchLeavesTheVersionWholeOrAbsent) {
  ASSERT_EQ(cli({"data", "exclude", planted.root, "train/a_top/img_0.pgm", "--db", db}, dir).code, 0);
  std::vector<std::string> args = {"data", "relabel", planted.root};
  for (int i = 0; i < 20; ++i) args.push_back("train/b_left/img_" + std::to_string(i) + ".pgm");
  args.insert(args.end(), {"a_top", "--db", db});
  const std::string marker = dir + "/stalled";
  pid_t pid = test::start_cli(args, dir, {"PERCEPTRA_TEST_STALL_WRITE=" + marker});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for(marker)) << "the relabel never reached its transaction";
  kill(pid, SIGKILL);
  EXPECT_EQ(test::wait_cli(pid, dir).code, 128 + SIGKILL);
  EXPECT_EQ(sql_scalar(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(sql_scalar(db, "SELECT count(*) FROM dataset_versions"), "1");
  EXPECT_EQ(sql_scalar(db, "SELECT count(*) FROM dataset_changes"), "1");
  // Run again: the whole batch lands as version 2.
  auto r = cli(args, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(sql_scalar(db,
                       "SELECT count(*) FROM dataset_changes WHERE version_id = "
                       "(SELECT id FROM dataset_versions WHERE version = 2)"),
            "20");
  EXPECT_EQ(sql_scalar(db, "PRAGMA integrity_check"), "ok");
}

TEST_F(CurateCli, KillDuringALedgerWriteKeepsThePreviousLedger) {
  const int64_t run = train(planted.root, 1, 1);
  ASSERT_GT(run, 0);
  std::string blob_before;
  {
    ExperimentStore st(db);
    auto l = st.ledger(run);
    ASSERT_TRUE(l);
    blob_before = l->blob;
  }
  const std::string marker = dir + "/stalled";
  pid_t pid = test::start_cli({"data", "ledger", "--run", std::to_string(run), "--db", db}, dir,
                              {"PERCEPTRA_TEST_STALL_WRITE=" + marker});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(wait_for(marker)) << "the ledger write never started";
  kill(pid, SIGKILL);
  EXPECT_EQ(test::wait_cli(pid, dir).code, 128 + SIGKILL);
  EXPECT_EQ(sql_scalar(db, "PRAGMA integrity_check"), "ok");
  {
    ExperimentStore st(db);
    auto l = st.ledger(run);
    ASSERT_TRUE(l) << "the killed write lost the run's ledger";
    EXPECT_EQ(l->blob, blob_before);
    EXPECT_EQ(decode_ledger(l->blob, "t").size(), planted.all_files.size());
  }
  // On demand, without a kill: the ledger is rewritten from the saved model.
  auto r = cli({"data", "ledger", "--run", std::to_string(run), "--db", db}, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  ExperimentStore st(db);
  EXPECT_EQ(read_ledger(st, run)->entries.size(), planted.all_files.size());
  EXPECT_NE(st.ledger(run)->model, "final");  // the model file's path
}

// Out-of-fold scores: every training image judged by a model that did not
// train on it, recorded as a run whose ledger `data suspects` ranks.
TEST_F(CurateCli, OutOfFoldScoresRankThePlantedErrors) {
  auto r = cli({"data", "score-oof", "--data", planted.root, "--folds", "4", "--model", dir + "/tiny.json", "--epochs",
                "10", "--batch-size", "16", "--lr", "0.05", "--device", "cpu", "--db", db},
               dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto at = r.out.find("recorded as run ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const int64_t run = std::stoll(r.out.substr(at + 16));
  size_t train_images = 0;
  std::vector<std::string> train_errors;
  for (const auto& f : planted.all_files) train_images += f.rfind("train/", 0) == 0;
  for (const auto& m : planted.mislabelled)
    if (m.rfind("train/", 0) == 0) train_errors.push_back(m);
  {
    ExperimentStore st(db);
    EXPECT_EQ(st.run(run).status, RunStatus::Finished);
    EXPECT_EQ(st.run(run).hparams["out_of_fold"]["folds"], 4);
    auto l = read_ledger(st, run);
    ASSERT_TRUE(l);
    EXPECT_EQ(l->entries.size(), train_images);
    std::set<std::string> seen;
    for (const auto& e : l->entries) seen.insert(e.image);
    EXPECT_EQ(seen.size(), train_images);  // each image scored once
  }
  r = cli({"data", "suspects", "--run", std::to_string(run), "--only", "--top", std::to_string(2 * train_errors.size()),
           "--json", "--db", db},
          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const json oof = json::parse(r.out);
  std::set<std::string> top;
  for (const auto& x : oof["suspects"]) top.insert(x["image"].get<std::string>());
  size_t found = 0;
  for (const auto& m : train_errors) found += top.count(m);
  std::cout << "out-of-fold suspects recall in top " << 2 * train_errors.size() << ": " << found << " of "
            << train_errors.size() << "\n";
  EXPECT_GE(double(found) / double(train_errors.size()), 0.75);
  EXPECT_EQ(cli({"data", "score-oof", "--data", planted.root, "--folds", "1", "--db", db}, dir).code, 1);
}

TEST_F(CurateCli, UsageAndBadInput) {
  EXPECT_EQ(cli({"data", "suspects", "--db", db}, dir).code, 2);
  EXPECT_EQ(cli({"data", "suspects", "--run", "9", "--db", db}, dir).code, 1);
  EXPECT_EQ(cli({"data", "relabel", planted.root, "--db", db}, dir).code, 2);
  EXPECT_EQ(cli({"data", "export", planted.root, "--db", db}, dir).code, 2);
  auto r = cli({"data", "versions", dir + "/nowhere", "--db", db}, dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nowhere"), std::string::npos) << r.err;
  r = cli({"train", "--data", planted.root + "@4", "--model", dir + "/tiny.json", "--db", db, "--out", dir + "/runs"},
          dir);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("no dataset version 4"), std::string::npos) << r.err;
  EXPECT_EQ(cli({"data", "--help"}, dir).code, 0);
  // A hostile ledger row: refused with a message naming it, no crash.
  {
    ExperimentStore st(db);
    const int64_t run = st.create_run(NewRun{});
    st.finish_run(run, RunStatus::Finished);
    std::string blob = encode_ledger({{"a.png", 1, false, 0, 1, 0.1f, 0.9f, 2.3f}});
    blob[8] = char(0x7f);  // claims far more images than it holds
    st.put_ledger({run, "/x", 0, "final", 1, 0, blob});
    r = cli({"data", "suspects", "--run", std::to_string(run), "--db", db}, dir);
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("ledger of run " + std::to_string(run)), std::string::npos) << r.err;
  }
}
