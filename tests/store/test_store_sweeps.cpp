// Schema 3: sweeps and their trial runs; a version 2 database (as shipped
// before sweeps) is upgraded in place without losing its runs.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "core/store/schema.h"
#include "core/store/store.h"

namespace fs = std::filesystem;
using namespace perceptra;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("perceptra-sweepstore-" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

void exec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "") << sql;
}

std::string scalar(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
  std::string v;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

}  // namespace

// A database written by the version 2 schema (the migrations as shipped),
// with a finished run, its metrics and an artifact row, then opened by this
// build: upgraded to 3, everything still there, and sweeps usable.
TEST(StoreSweeps, UpgradesAVersion2DatabaseWithoutLosingRuns) {
  TempDir tmp;
  const std::string path = tmp.file("v2.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    exec(db, "PRAGMA journal_mode = WAL");
    const auto& m = store_schema::migrations();
    ASSERT_GE(m.size(), 3u);
    exec(db, m[0]);
    exec(db, "INSERT INTO schema_version VALUES (1, 0)");
    exec(db, m[1]);
    exec(db, "INSERT INTO schema_version VALUES (2, 0)");
    exec(db,
         "INSERT INTO runs(id, name, status, created_at, started_at, ended_at, seed, hparams, "
         "status_message, heartbeat_at) VALUES (7, 'old', 'finished', 1, 1, 2, 3, "
         "'{\"batch_size\":64}', 'ok', 2)");
    exec(db,
         "INSERT INTO metrics VALUES (7, 0, 0, 'valid_accuracy', 0.5), (7, 1, 1, "
         "'valid_accuracy', 0.75)");
    exec(db,
         "INSERT INTO artifacts(run_id, kind, path, created_at, sha256, size_bytes) VALUES (7, "
         "'model', '/x/model.pmodel', 2, 'abc', 10)");
    sqlite3_close(db);
  }
  {
    ExperimentStore st(path);
    EXPECT_EQ(st.schema_version(), ExperimentStore::kSchemaVersion);  // 3, then 4 (curation)
    RunRecord r = st.run(7);
    EXPECT_EQ(r.name, "old");
    EXPECT_EQ(r.status, RunStatus::Finished);
    EXPECT_EQ(r.hparams["batch_size"], 64);
    EXPECT_FALSE(r.sweep_id);
    EXPECT_EQ(r.trial_index, -1);
    EXPECT_FALSE(r.early_terminated);
    EXPECT_EQ(st.metric_series(7, "valid_accuracy").values, (std::vector<double>{0.5, 0.75}));
    EXPECT_EQ(st.artifacts(7).size(), 1u);
    EXPECT_EQ(st.list_runs().size(), 1u);
    // The upgraded file takes sweeps.
    int64_t sw = st.create_sweep("", {{"metric", "valid_accuracy"}});
    st.set_run_trial(7, sw, 0, {{"optimizer.lr", 0.1}});
    EXPECT_EQ(st.sweep_runs(sw).size(), 1u);
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  EXPECT_EQ(scalar(db, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(scalar(db, "PRAGMA foreign_key_check"), "");
  EXPECT_EQ(scalar(db, "SELECT group_concat(version) FROM schema_version WHERE version <= 3"), "1,2,3");
  sqlite3_close(db);
}

TEST(StoreSweeps, SweepRowsTrialsAndEarlyTermination) {
  TempDir tmp;
  ExperimentStore st(tmp.file("s.db"));
  int64_t sw = st.create_sweep("", {{"metric", "valid_loss"}, {"goal", "min"}});
  SweepRecord rec = st.sweep(sw);
  EXPECT_EQ(rec.name, "sweep-" + std::to_string(sw));
  EXPECT_EQ(rec.status, "running");
  EXPECT_EQ(rec.spec["goal"], "min");
  EXPECT_EQ(rec.owner_pid, getpid());
  // A live owner: cannot be taken over.
  EXPECT_THROW(st.reopen_sweep(sw), StoreError);

  NewRun nr;
  nr.name = "t1";
  int64_t a = st.create_run(nr), b = st.create_run(nr), other = st.create_run(nr);
  st.set_run_trial(b, sw, 1, {{"batch_size", 32}});
  st.set_run_trial(a, sw, 0, {{"batch_size", 16}});
  st.mark_early_terminated(b);
  st.finish_run(b, RunStatus::Stopped, "early-terminated");
  auto runs = st.sweep_runs(sw);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].id, a);  // by trial index
  EXPECT_EQ(runs[0].trial_params["batch_size"], 16);
  EXPECT_EQ(*runs[1].sweep_id, sw);
  EXPECT_TRUE(runs[1].early_terminated);
  EXPECT_FALSE(runs[0].early_terminated);
  EXPECT_EQ(st.list_runs(sw).size(), 2u);
  EXPECT_EQ(st.list_runs().size(), 3u);
  EXPECT_FALSE(st.run(other).sweep_id);
  EXPECT_THROW(st.set_run_trial(a, sw + 100, 0, {}), StoreError);

  st.finish_sweep(sw, "stopped", "stopped by user");
  EXPECT_EQ(st.sweep(sw).status, "stopped");
  EXPECT_GT(st.sweep(sw).ended_at, 0);
  st.reopen_sweep(sw);
  EXPECT_EQ(st.sweep(sw).status, "running");
  EXPECT_THROW(st.finish_sweep(sw, "bogus"), StoreError);
  EXPECT_THROW(st.sweep(sw + 100), StoreError);
  EXPECT_EQ(st.list_sweeps().size(), 1u);
  // Deleting a trial's run leaves the sweep; the sweep row is independent.
  st.delete_run(a);
  EXPECT_EQ(st.sweep_runs(sw).size(), 1u);
}

// A sweep whose process died is 'interrupted' when the store is next opened.
TEST(StoreSweeps, SweepOfADeadProcessIsInterrupted) {
  TempDir tmp;
  const std::string path = tmp.file("d.db");
  int64_t sw = 0;
  {
    ExperimentStore st(path);
    sw = st.create_sweep("dead", nlohmann::json::object());
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    // A pid that is gone: a reaped child.
    pid_t p = fork();
    if (p == 0) _exit(0);
    int status = 0;
    waitpid(p, &status, 0);
    exec(db, "UPDATE sweeps SET owner_pid = " + std::to_string(p));
    sqlite3_close(db);
  }
  ExperimentStore st(path);
  EXPECT_EQ(st.sweep(sw).status, "interrupted");
  st.reopen_sweep(sw);
  EXPECT_EQ(st.sweep(sw).status, "running");
}
