// Schema 4: dataset versions (a version and its changes in one transaction),
// per-run ledgers, the dataset version a run trained on; version 2 and
// version 3 databases are upgraded in place without losing their runs.
#include <gtest/gtest.h>
#include <sqlite3.h>
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
    path = fs::temp_directory_path() / ("perceptra-curstore-" + std::to_string(getpid()));
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

std::string scalar(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
  std::string v;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
    v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// A database as schema `version` (2 or 3) left it: the shipped migrations
// up to it, with a finished run, metrics and an artifact.
void write_old_database(const std::string& path, int version) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  exec(db, "PRAGMA journal_mode = WAL");
  const auto& m = store_schema::migrations();
  for (int v = 0; v < version; ++v) {
    exec(db, m.at(size_t(v)));
    exec(db, "INSERT INTO schema_version VALUES (" + std::to_string(v + 1) + ", 0)");
  }
  exec(db, "INSERT INTO datasets(id, name, path, created_at) VALUES (1, 'sample', '/data/sample', 1)");
  exec(db,
       "INSERT INTO runs(id, name, status, created_at, started_at, ended_at, seed, dataset_id, "
       "hparams, status_message, heartbeat_at) VALUES (7, 'old', 'finished', 1, 1, 2, 3, 1, "
       "'{\"data\":\"sample\"}', 'ok', 2)");
  exec(db, "INSERT INTO metrics VALUES (7, 0, 0, 'valid_accuracy', 0.5), (7, 1, 1, 'valid_accuracy', 0.75)");
  exec(db,
       "INSERT INTO artifacts(run_id, kind, path, created_at, sha256, size_bytes) VALUES (7, "
       "'model', '/x/model.pmodel', 2, 'abc', 10)");
  if (version >= 3) exec(db, "INSERT INTO sweeps(id, name, status, created_at) VALUES (1, 's', 'finished', 1)");
  sqlite3_close(db);
}

void check_upgraded(const std::string& path, int from) {
  {
    ExperimentStore st(path);
    EXPECT_EQ(st.schema_version(), 4);
    RunRecord r = st.run(7);
    EXPECT_EQ(r.name, "old");
    EXPECT_EQ(r.status, RunStatus::Finished);
    EXPECT_EQ(r.hparams["data"], "sample");
    EXPECT_EQ(r.dataset_version, 0);  // trained on the files as they were
    EXPECT_EQ(st.metric_series(7, "valid_accuracy").values, (std::vector<double>{0.5, 0.75}));
    EXPECT_EQ(st.artifacts(7).size(), 1u);
    if (from >= 3) {
      EXPECT_TRUE(st.find_sweep(1));
    }
    // The upgraded file takes versions and ledgers.
    EXPECT_EQ(st.add_dataset_version("/data/sample", 0, {{"a.png", "00", "exclude", -1}}, "me", ""), 1);
    st.put_ledger({7, "/data/sample", 1, "final", 1, 0, "blob"});
    EXPECT_EQ(st.ledger(7)->blob, "blob");
    st.set_run_dataset_version(7, 1);
    EXPECT_EQ(st.run(7).dataset_version, 1);
  }
  EXPECT_EQ(scalar(path, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(scalar(path, "PRAGMA foreign_key_check"), "");
  EXPECT_EQ(scalar(path, "SELECT group_concat(version) FROM schema_version"), "1,2,3,4");
}

}  // namespace

TEST(StoreCuration, UpgradesAVersion2DatabaseWithoutLosingRuns) {
  TempDir tmp;
  write_old_database(tmp.file("v2.db"), 2);
  check_upgraded(tmp.file("v2.db"), 2);
}

TEST(StoreCuration, UpgradesAVersion3DatabaseWithoutLosingRuns) {
  TempDir tmp;
  write_old_database(tmp.file("v3.db"), 3);
  check_upgraded(tmp.file("v3.db"), 3);
}

TEST(StoreCuration, VersionsAreNumberedPerDatasetWithTheirChanges) {
  TempDir tmp;
  ExperimentStore st(tmp.file("p.db"));
  EXPECT_EQ(st.latest_dataset_version("/d/a"), 0);
  EXPECT_EQ(st.add_dataset_version("/d/a", 0, {{"cat/1.png", "h1", "relabel", 2}, {"dog/2.png", "h2", "exclude", -1}},
                                   "ann", "typos"),
            1);
  EXPECT_EQ(st.add_dataset_version("/d/b", 0, {{"5", "h5", "exclude", -1}}, "bob", ""), 1);
  EXPECT_EQ(st.add_dataset_version("/d/a", 1, {{"dog/2.png", "h2", "restore", -1}}, "ann", ""), 2);
  EXPECT_EQ(st.latest_dataset_version("/d/a"), 2);
  auto all = st.dataset_versions("/d/a", true);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].author, "ann");
  EXPECT_EQ(all[0].reason, "typos");
  ASSERT_EQ(all[0].changes.size(), 2u);
  EXPECT_EQ(all[0].changes[0].label, 2);
  EXPECT_EQ(all[0].changes[1].action, "exclude");
  EXPECT_EQ(all[1].parent, 1);
  EXPECT_EQ(st.curated_datasets(), (std::vector<std::string>{"/d/a", "/d/b"}));
  // Bad changes are refused before anything is written.
  EXPECT_THROW(st.add_dataset_version("/d/a", 2, {{"x", "", "rename", -1}}, "", ""), StoreError);
  EXPECT_THROW(st.add_dataset_version("/d/a", 2, {{"x", "", "relabel", -1}}, "", ""), StoreError);
  EXPECT_THROW(st.add_dataset_version("/d/a", 9, {{"x", "", "exclude", -1}}, "", ""), StoreError);
  EXPECT_THROW(st.add_dataset_version("/d/a", 2, {}, "", ""), StoreError);
  EXPECT_EQ(st.latest_dataset_version("/d/a"), 2);
}

TEST(StoreCuration, LedgersAreOnePerRunAndGoWithTheRun) {
  TempDir tmp;
  ExperimentStore st(tmp.file("p.db"));
  NewRun nr;
  nr.dataset_version = 3;
  const int64_t a = st.create_run(nr), b = st.create_run(NewRun{});
  EXPECT_EQ(st.run(a).dataset_version, 3);
  EXPECT_FALSE(st.ledger(a));
  std::string blob(100000, '\0');
  for (size_t i = 0; i < blob.size(); ++i) blob[i] = char(i * 7);
  st.put_ledger({a, "/d", 3, "final", 5, 0, blob});
  st.put_ledger({a, "/d", 3, "best", 6, 0, blob + "x"});  // replaces
  st.put_ledger({b, "/d", 0, "final", 1, 0, "y"});
  EXPECT_EQ(st.ledger(a)->blob, blob + "x");
  EXPECT_EQ(st.ledger(a)->model, "best");
  auto all = st.ledgers("/d", false);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(all[0].blob.empty());
  EXPECT_EQ(all[0].count, 6);
  EXPECT_THROW(st.put_ledger({999, "/d", 0, "", 0, 0, "z"}), StoreError);  // no such run
  st.delete_run(a);
  EXPECT_FALSE(st.ledger(a));
  EXPECT_EQ(st.ledgers("/d").size(), 1u);
}
