#include <gtest/gtest.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/store/machine.h"
#include "core/store/sha256.h"
#include "core/store/store.h"

namespace fs = std::filesystem;
using namespace perceptra;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path =
        fs::temp_directory_path() / ("perceptra-store-" + std::to_string(getpid()) + "-" + std::to_string(counter()++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

// Raw SQLite access to check what is really on disk, independent of the store.
struct RawDb {
  sqlite3* db = nullptr;
  explicit RawDb(const std::string& p) { EXPECT_EQ(sqlite3_open(p.c_str(), &db), SQLITE_OK); }
  ~RawDb() { sqlite3_close(db); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    ASSERT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
  }
  int64_t scalar(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    std::string v;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
      v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
  }
};

NewRun sample_run(const std::string& name = "r") {
  NewRun r;
  r.name = name;
  r.seed = 42;
  r.model_spec = {{"name", "mlp"}, {"layers", nlohmann::json::array()}};
  r.hparams = {{"lr", 0.05}, {"batch_size", 128}};
  r.machine = machine_metadata("none");
  return r;
}

// A pid that certainly belongs to no running process: a child that has exited
// and been reaped.
long dead_pid() {
  pid_t p = fork();
  if (p == 0) _exit(0);
  int status = 0;
  waitpid(p, &status, 0);
  return p;
}

std::string expect_store_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected StoreError";
  return "";
}

}  // namespace

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha256_hex(m.data(), m.size()), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  EXPECT_EQ(sha256_hex(million.data(), million.size()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Store, CreatesSchemaInNewDirectoryWithWalAndForeignKeys) {
  TempDir t;
  std::string path = t.file("a/b/perceptra.db");
  {
    ExperimentStore s(path);
    EXPECT_EQ(s.schema_version(), ExperimentStore::kSchemaVersion);
    EXPECT_EQ(s.journal_mode(), "wal");
    EXPECT_TRUE(s.recovered_runs().empty());
  }
  ASSERT_TRUE(fs::exists(path));
  RawDb raw(path);
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");  // persistent in the file
  for (const char* table : {"schema_version", "datasets", "runs", "metrics", "artifacts"})
    EXPECT_EQ(raw.scalar(std::string("SELECT count(*) FROM sqlite_master WHERE name='") + table + "'"), 1) << table;
  // One schema_version row per applied migration.
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM schema_version"), ExperimentStore::kSchemaVersion);
  // Re-opening does not re-migrate.
  { ExperimentStore again(path); }
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM schema_version"), ExperimentStore::kSchemaVersion);
}

TEST(Store, DefaultPathHonoursEnvironment) {
  setenv("PERCEPTRA_DB", "/tmp/x/custom.db", 1);
  EXPECT_EQ(ExperimentStore::default_path(), "/tmp/x/custom.db");
  unsetenv("PERCEPTRA_DB");
  setenv("XDG_DATA_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(ExperimentStore::default_path(), "/tmp/xdg/perceptra/perceptra.db");
  unsetenv("XDG_DATA_HOME");
  const char* old_home = std::getenv("HOME");
  std::string saved = old_home ? old_home : "";
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(ExperimentStore::default_path(), "/home/someone/.local/share/perceptra/perceptra.db");
  if (old_home) setenv("HOME", saved.c_str(), 1);
}

TEST(Store, RunLifecycleAndMetadata) {
  TempDir t;
  ExperimentStore s(t.file("p.db"));
  DatasetRecord d;
  d.name = "fashion-mnist";
  d.path = "/usr/share/datasets/fashion-mnist";
  d.kind = "idx";
  d.fingerprint = "abc";
  d.num_classes = 10;
  d.num_train = 60000;
  d.num_valid = 10000;
  int64_t did = s.register_dataset(d);
  EXPECT_EQ(s.register_dataset(d), did);  // same data, same id
  d.fingerprint = "other";
  EXPECT_NE(s.register_dataset(d), did);
  ASSERT_EQ(s.datasets().size(), 2u);
  EXPECT_EQ(s.dataset(did)->num_train, 60000);

  NewRun nr = sample_run("");
  nr.dataset_id = did;
  int64_t id = s.create_run(nr);
  RunRecord r = s.run(id);
  EXPECT_EQ(r.name, "run-" + std::to_string(id));
  EXPECT_EQ(r.status, RunStatus::Running);
  EXPECT_EQ(r.seed, 42u);
  EXPECT_EQ(*r.dataset_id, did);
  EXPECT_EQ(r.hparams["batch_size"], 128);
  EXPECT_EQ(r.model_spec["name"], "mlp");
  EXPECT_TRUE(r.machine.contains("cpu_model"));
  EXPECT_GT(r.machine["cores"].get<int>(), 0);
  EXPECT_EQ(r.machine["gpu"], "none");
  EXPECT_EQ(r.owner_pid, getpid());
  EXPECT_GT(r.started_at, 1.6e9);
  EXPECT_EQ(r.ended_at, 0);

  s.finish_run(id, RunStatus::Diverged, "loss became NaN at step 12");
  r = s.run(id);
  EXPECT_EQ(r.status, RunStatus::Diverged);
  EXPECT_EQ(r.status_message, "loss became NaN at step 12");
  EXPECT_GE(r.ended_at, r.started_at);

  s.reopen_run(id);
  EXPECT_EQ(s.run(id).status, RunStatus::Running);
  EXPECT_EQ(s.run(id).ended_at, 0);

  s.rename_run(id, "baseline");
  EXPECT_EQ(s.run(id).name, "baseline");
  EXPECT_FALSE(s.find_run(id + 100).has_value());
  std::string msg = expect_store_error([&] { s.run(id + 100); });
  EXPECT_NE(msg.find("no run with id"), std::string::npos) << msg;
  EXPECT_NE(msg.find("p.db"), std::string::npos) << msg;

  nr.dataset_id = 999;
  msg = expect_store_error([&] { s.create_run(nr); });
  EXPECT_NE(msg.find("no dataset with id 999"), std::string::npos) << msg;
}

TEST(Store, StatusStringsRoundTrip) {
  for (auto st : {RunStatus::Running, RunStatus::Finished, RunStatus::Stopped, RunStatus::Diverged, RunStatus::Failed,
                  RunStatus::Interrupted})
    EXPECT_EQ(parse_run_status(to_string(st)), st);
  EXPECT_THROW(parse_run_status("sleeping"), Error);
}

TEST(Store, MetricsBatchInsertSeriesAndSummary) {
  TempDir t;
  ExperimentStore s(t.file("p.db"));
  int64_t id = s.create_run(sample_run());
  std::vector<MetricPoint> pts;
  for (int step = 1; step <= 2000; ++step) pts.push_back({step, (step - 1) / 1000 + 1, "train_loss", 2.0 / step});
  s.add_metrics(id, pts);
  s.add_metrics(id, {{1000, 1, "valid_accuracy", 0.81},
                     {1000, 1, "valid_loss", 0.6},
                     {2000, 2, "valid_accuracy", 0.87},
                     {2000, 2, "valid_loss", 0.4}});
  s.add_metric(id, 2001, 2, "lr", 0.01);

  auto names = s.metric_names(id);
  EXPECT_EQ(names, (std::vector<std::string>{"lr", "train_loss", "valid_accuracy", "valid_loss"}));
  auto series = s.metric_series(id, "train_loss");
  ASSERT_EQ(series.size(), 2000u);
  EXPECT_EQ(series.steps.front(), 1);
  EXPECT_EQ(series.steps.back(), 2000);
  EXPECT_EQ(series.epochs.back(), 2);
  EXPECT_DOUBLE_EQ(series.values[9], 0.2);
  EXPECT_EQ(s.metric_series(id, "nothing").size(), 0u);

  s.finish_run(id, RunStatus::Finished);
  auto runs = s.list_runs();
  ASSERT_EQ(runs.size(), 1u);
  const auto& sum = runs[0];
  ASSERT_TRUE(sum.best_valid_accuracy);
  EXPECT_DOUBLE_EQ(*sum.best_valid_accuracy, 0.87);
  ASSERT_TRUE(sum.final_train_loss);
  EXPECT_DOUBLE_EQ(*sum.final_train_loss, 2.0 / 2000);
  EXPECT_DOUBLE_EQ(*sum.final_valid_loss, 0.4);
  EXPECT_EQ(sum.epochs, 2);
  EXPECT_GE(sum.duration_s, 0.0);
  EXPECT_LT(sum.duration_s, 60.0);

  // NaN (a diverged loss) is kept as +inf rather than rejected.
  s.add_metric(id, 2002, 2, "train_loss", std::nan(""));
  EXPECT_TRUE(std::isinf(s.metric_series(id, "train_loss").values.back()));

  std::string msg = expect_store_error([&] { s.add_metric(id + 5, 1, 1, "x", 1); });
  EXPECT_NE(msg.find("no run with id"), std::string::npos);
}

TEST(Store, ListRunsNewestFirstWithEmptyMetrics) {
  TempDir t;
  ExperimentStore s(t.file("p.db"));
  int64_t a = s.create_run(sample_run("a"));
  int64_t b = s.create_run(sample_run("b"));
  auto runs = s.list_runs();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].run.id, b);
  EXPECT_EQ(runs[1].run.id, a);
  EXPECT_FALSE(runs[0].best_valid_accuracy.has_value());
  EXPECT_FALSE(runs[0].final_train_loss.has_value());
  EXPECT_EQ(runs[0].epochs, 0);
}

TEST(Store, CompareRunsAlignsSeries) {
  TempDir t;
  ExperimentStore s(t.file("p.db"));
  int64_t a = s.create_run(sample_run("a"));
  int64_t b = s.create_run(sample_run("b"));
  s.add_metrics(a, {{10, 1, "valid_accuracy", 0.5}, {20, 2, "valid_accuracy", 0.6}, {30, 3, "valid_accuracy", 0.7}});
  s.add_metrics(b, {{10, 1, "valid_accuracy", 0.55}, {15, 2, "valid_accuracy", 0.65}});
  auto c = s.compare_runs({a, b}, "valid_accuracy", Align::Step);
  EXPECT_EQ(c.x, (std::vector<int64_t>{10, 15, 20, 30}));
  ASSERT_EQ(c.values.size(), 2u);
  EXPECT_DOUBLE_EQ(c.values[0][0], 0.5);
  EXPECT_TRUE(std::isnan(c.values[0][1]));
  EXPECT_DOUBLE_EQ(c.values[0][3], 0.7);
  EXPECT_DOUBLE_EQ(c.values[1][1], 0.65);
  EXPECT_TRUE(std::isnan(c.values[1][2]));

  auto e = s.compare_runs({a, b}, "valid_accuracy", Align::Epoch);
  EXPECT_EQ(e.x, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_DOUBLE_EQ(e.values[1][1], 0.65);
  EXPECT_TRUE(std::isnan(e.values[1][2]));

  // Per-batch points aligned by epoch: the epoch's last value.
  s.add_metrics(a, {{1, 1, "train_loss", 3.0}, {2, 1, "train_loss", 2.0}, {3, 2, "train_loss", 1.0}});
  auto l = s.compare_runs({a}, "train_loss", Align::Epoch);
  EXPECT_EQ(l.x, (std::vector<int64_t>{1, 2}));
  EXPECT_DOUBLE_EQ(l.values[0][0], 2.0);

  EXPECT_THROW(s.compare_runs({a, 12345}, "valid_accuracy"), StoreError);
}

TEST(Store, ArtifactsWithChecksumsAndDeleteRun) {
  TempDir t;
  ExperimentStore s(t.file("p.db"));
  int64_t id = s.create_run(sample_run());
  int64_t other = s.create_run(sample_run("other"));
  // In the run's own folder: delete_run removes only files there.
  fs::create_directories(t.file("run-" + std::to_string(id)));
  std::string ck1 = t.file("run-" + std::to_string(id) + "/ck1.ptm"),
              ck2 = t.file("run-" + std::to_string(id) + "/ck2.ptm");
  std::ofstream(ck1) << "abc";
  std::ofstream(ck2) << "second checkpoint";
  s.add_artifact(id, "checkpoint", ck1);
  s.add_artifact(id, "checkpoint", ck2);
  s.add_artifact(other, "model", ck2);
  auto arts = s.artifacts(id);
  ASSERT_EQ(arts.size(), 2u);
  EXPECT_EQ(arts[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(arts[0].size_bytes, 3);
  EXPECT_TRUE(fs::path(arts[0].path).is_absolute());
  EXPECT_EQ(s.latest_artifact(id, "checkpoint")->path, ck2);
  EXPECT_FALSE(s.latest_artifact(id, "onnx").has_value());
  EXPECT_TRUE(s.verify_artifact(arts[0]));
  std::ofstream(ck1) << "tampered";
  EXPECT_FALSE(s.verify_artifact(arts[0]));

  // Re-saving a file in place refreshes its row instead of adding one.
  std::ofstream(ck1) << "abc";
  std::ofstream(ck1, std::ios::app) << "d";
  EXPECT_EQ(s.add_artifact(id, "checkpoint", ck1), arts[0].id);
  ASSERT_EQ(s.artifacts(id).size(), 2u);
  EXPECT_EQ(s.latest_artifact(id, "checkpoint")->path, ck1);
  EXPECT_EQ(s.latest_artifact(id, "checkpoint")->size_bytes, 4);
  EXPECT_TRUE(s.verify_artifact(*s.latest_artifact(id, "checkpoint")));

  EXPECT_THROW(s.add_artifact(id, "weights", ck1), StoreError);
  std::string msg = expect_store_error([&] { s.add_artifact(id, "model", t.file("missing")); });
  EXPECT_NE(msg.find("missing"), std::string::npos);

  s.add_metrics(id, {{1, 1, "train_loss", 1.0}, {2, 1, "train_loss", 0.5}});
  s.add_metrics(other, {{1, 1, "train_loss", 1.0}});
  auto paths = s.delete_run(id, /*remove_files=*/true);
  EXPECT_EQ(paths.size(), 2u);
  EXPECT_FALSE(s.find_run(id));
  EXPECT_FALSE(fs::exists(ck1));
  EXPECT_FALSE(fs::exists(ck2));
  RawDb raw(t.file("p.db"));
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM metrics WHERE run_id = " + std::to_string(id)), 0);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM artifacts WHERE run_id = " + std::to_string(id)), 0);
  // The other run is untouched.
  EXPECT_EQ(s.metric_series(other, "train_loss").size(), 1u);
  EXPECT_EQ(s.artifacts(other).size(), 1u);
  EXPECT_THROW(s.delete_run(id), StoreError);
}

TEST(Store, InterruptedRunRecovery) {
  TempDir t;
  std::string path = t.file("p.db");
  int64_t dead_id, live_id, foreign_fresh, foreign_stale, finished;
  {
    ExperimentStore s(path);
    dead_id = s.create_run(sample_run("killed"));
    live_id = s.create_run(sample_run("live"));  // owned by this test process
    foreign_fresh = s.create_run(sample_run("other-host-fresh"));
    foreign_stale = s.create_run(sample_run("other-host-stale"));
    finished = s.create_run(sample_run("done"));
    s.finish_run(finished, RunStatus::Finished);
    s.add_metrics(dead_id, {{1, 1, "train_loss", 1.0}});
  }
  long gone = dead_pid();
  {
    RawDb raw(path);
    // The killed run's owner: a pid that no longer exists, same host.
    raw.exec("UPDATE runs SET owner_pid = " + std::to_string(gone) + " WHERE id = " + std::to_string(dead_id));
    // A process on another machine sharing the file: only its heartbeat counts.
    raw.exec("UPDATE runs SET owner_host = 'elsewhere', owner_pid = 1 WHERE id IN (" + std::to_string(foreign_fresh) +
             "," + std::to_string(foreign_stale) + ")");
    raw.exec("UPDATE runs SET heartbeat_at = heartbeat_at - 7200 WHERE id = " + std::to_string(foreign_stale));
  }
  ExperimentStore s(path);
  auto rec = s.recovered_runs();
  std::sort(rec.begin(), rec.end());
  EXPECT_EQ(rec, (std::vector<int64_t>{dead_id, foreign_stale}));
  EXPECT_EQ(s.run(dead_id).status, RunStatus::Interrupted);
  EXPECT_GT(s.run(dead_id).ended_at, 0);
  EXPECT_FALSE(s.run(dead_id).status_message.empty());
  EXPECT_EQ(s.run(live_id).status, RunStatus::Running);
  EXPECT_EQ(s.run(foreign_fresh).status, RunStatus::Running);
  EXPECT_EQ(s.run(foreign_stale).status, RunStatus::Interrupted);
  EXPECT_EQ(s.run(finished).status, RunStatus::Finished);
  // Its metrics survive; it can be resumed by another process.
  EXPECT_EQ(s.metric_series(dead_id, "train_loss").size(), 1u);
  s.reopen_run(dead_id);
  EXPECT_EQ(s.run(dead_id).status, RunStatus::Running);
  EXPECT_TRUE(s.recover_interrupted().empty());
}

TEST(Store, PidReuseDoesNotKeepADeadRunAlive) {
  // Same pid as a live process (ours) but a different process start token:
  // the original owner is gone even though the pid exists.
  TempDir t;
  std::string path = t.file("p.db");
  int64_t id;
  {
    ExperimentStore s(path);
    id = s.create_run(sample_run());
  }
  {
    RawDb raw(path);
    raw.exec("UPDATE runs SET owner_token = 'old-boot:12345' WHERE id = " + std::to_string(id));
  }
  ExperimentStore s(path);
  EXPECT_EQ(s.run(id).status, RunStatus::Interrupted);
}

TEST(Store, MigratesVersion1Database) {
  TempDir t;
  std::string path = t.file("v1.db");
  {
    // A store file exactly as version 1 wrote it (schema copied here on
    // purpose: the test must not depend on the code it checks).
    RawDb raw(path);
    raw.exec(R"sql(
CREATE TABLE schema_version(version INTEGER NOT NULL, applied_at REAL NOT NULL);
CREATE TABLE datasets(id INTEGER PRIMARY KEY, name TEXT NOT NULL, path TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT '', fingerprint TEXT NOT NULL DEFAULT '',
  num_classes INTEGER NOT NULL DEFAULT 0, num_train INTEGER NOT NULL DEFAULT 0,
  num_valid INTEGER NOT NULL DEFAULT 0, info TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL);
CREATE TABLE runs(id INTEGER PRIMARY KEY, name TEXT NOT NULL,
  status TEXT NOT NULL CHECK(status IN ('running','finished','stopped','diverged','failed','interrupted')),
  created_at REAL NOT NULL, started_at REAL, ended_at REAL, seed INTEGER NOT NULL DEFAULT 0,
  dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
  model_spec TEXT NOT NULL DEFAULT '{}', hparams TEXT NOT NULL DEFAULT '{}',
  machine TEXT NOT NULL DEFAULT '{}', owner_pid INTEGER NOT NULL DEFAULT 0);
CREATE TABLE metrics(run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL, epoch INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX metrics_run_name ON metrics(run_id, name, step);
CREATE TABLE artifacts(id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, kind TEXT NOT NULL,
  path TEXT NOT NULL, created_at REAL NOT NULL);
INSERT INTO schema_version VALUES (1, 1700000000);
INSERT INTO datasets(id, name, created_at) VALUES (1, 'fashion-mnist', 1700000000);
INSERT INTO runs(id, name, status, created_at, started_at, ended_at, seed, dataset_id, hparams)
  VALUES (1, 'old-finished', 'finished', 1700000000, 1700000001, 1700000101, 7, 1, '{"lr":0.1}');
INSERT INTO runs(id, name, status, created_at, started_at, owner_pid)
  VALUES (2, 'old-running', 'running', 1700000000, 1700000001, 999999999);
INSERT INTO metrics VALUES (1, 100, 1, 'valid_accuracy', 0.8), (1, 200, 2, 'valid_accuracy', 0.85),
  (1, 200, 2, 'train_loss', 0.3);
INSERT INTO artifacts(run_id, kind, path, created_at) VALUES (1, 'model', '/old/model.ptm', 1700000101);
)sql");
  }
  ExperimentStore s(path);
  EXPECT_EQ(s.schema_version(), ExperimentStore::kSchemaVersion);
  RunRecord old = s.run(1);
  EXPECT_EQ(old.name, "old-finished");
  EXPECT_EQ(old.status, RunStatus::Finished);
  EXPECT_EQ(old.seed, 7u);
  EXPECT_EQ(old.hparams["lr"], 0.1);
  EXPECT_EQ(old.notes, "");
  auto sum = s.run_summary(1);
  EXPECT_DOUBLE_EQ(*sum.best_valid_accuracy, 0.85);
  EXPECT_DOUBLE_EQ(sum.duration_s, 100.0);
  EXPECT_EQ(sum.epochs, 2);
  auto arts = s.artifacts(1);
  ASSERT_EQ(arts.size(), 1u);
  EXPECT_EQ(arts[0].sha256, "");  // unknown for old rows
  // v1 run left running by a long-dead process: interrupted on open.
  EXPECT_EQ(s.run(2).status, RunStatus::Interrupted);
  // New columns work on the migrated file.
  s.set_notes(1, "migrated");
  EXPECT_EQ(s.run(1).notes, "migrated");
  int64_t id = s.create_run(sample_run("new"));
  EXPECT_EQ(id, 3);
  RawDb raw(path);
  EXPECT_EQ(raw.scalar("SELECT MAX(version) FROM schema_version"), ExperimentStore::kSchemaVersion);
  EXPECT_EQ(raw.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'artifacts_run'"), 1);
}

TEST(Store, RefusesNewerSchema) {
  TempDir t;
  std::string path = t.file("p.db");
  { ExperimentStore s(path); }
  {
    RawDb raw(path);
    raw.exec("INSERT INTO schema_version VALUES (99, 0)");
  }
  std::string msg = expect_store_error([&] { ExperimentStore s(path); });
  EXPECT_NE(msg.find("schema version 99"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

TEST(Store, NotADatabaseGivesClearError) {
  TempDir t;
  std::string path = t.file("notes.txt");
  {
    std::ofstream out(path);
    for (int i = 0; i < 200; ++i) out << "this is a text file, not a database\n";
  }
  std::string msg = expect_store_error([&] { ExperimentStore s(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("not an SQLite database"), std::string::npos) << msg;
  // The file is left as it was.
  EXPECT_GT(fs::file_size(path), 1000u);
}

TEST(Store, ForeignSqliteDatabaseIsRefused) {
  TempDir t;
  std::string path = t.file("other.db");
  {
    RawDb raw(path);
    raw.exec("CREATE TABLE contacts(name TEXT)");
  }
  std::string msg = expect_store_error([&] { ExperimentStore s(path); });
  EXPECT_NE(msg.find("not a Perceptra store"), std::string::npos) << msg;
}

TEST(Store, CorruptDatabaseGivesClearError) {
  TempDir t;
  std::string path = t.file("p.db");
  {
    ExperimentStore s(path);
    int64_t id = s.create_run(sample_run());
    std::vector<MetricPoint> pts;
    for (int i = 0; i < 5000; ++i) pts.push_back({i, 1, "train_loss", 1.0 / (i + 1)});
    s.add_metrics(id, pts);
  }
  {
    // Fold the WAL back into the main file and leave rollback mode so the
    // bytes we scribble over are the only copy.
    RawDb raw(path);
    raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    raw.exec("PRAGMA journal_mode = DELETE");
  }
  auto size = fs::file_size(path);
  ASSERT_GT(size, 8192u);
  {
    // Overwrite the schema page's b-tree header (page 1 after the 100-byte
    // file header) and every later page's header.
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    std::string junk(64, '\xAB');
    f.seekp(100);
    f.write(junk.data(), junk.size());
    for (std::streamoff off = 4096; off < std::streamoff(size); off += 4096) {
      f.seekp(off);
      f.write(junk.data(), junk.size());
    }
  }
  std::string msg = expect_store_error([&] {
    ExperimentStore s(path);
    s.list_runs();
  });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_TRUE(msg.find("corrupt") != std::string::npos || msg.find("malformed") != std::string::npos) << msg;
}

TEST(Store, LockedDatabaseTimesOutWithClearError) {
  TempDir t;
  std::string path = t.file("p.db");
  StoreOptions opt;
  opt.busy_timeout_ms = 100;
  ExperimentStore s(path, opt);
  int64_t id = s.create_run(sample_run());
  RawDb other(path);
  other.exec("BEGIN EXCLUSIVE");
  std::string msg = expect_store_error([&] { s.add_metric(id, 1, 1, "train_loss", 1.0); });
  EXPECT_NE(msg.find("locked"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  other.exec("ROLLBACK");
  s.add_metric(id, 1, 1, "train_loss", 1.0);  // works once the lock is gone
  EXPECT_EQ(s.metric_series(id, "train_loss").size(), 1u);
}

TEST(Store, ReaderAndWriterConnectionsCoexist) {
  TempDir t;
  std::string path = t.file("p.db");
  ExperimentStore writer(path);
  ExperimentStore reader(path);
  int64_t id = writer.create_run(sample_run());
  writer.add_metric(id, 1, 1, "train_loss", 0.9);
  EXPECT_EQ(reader.metric_series(id, "train_loss").size(), 1u);
  EXPECT_EQ(reader.run(id).status, RunStatus::Running);  // live owner: not interrupted
}

TEST(Store, DirectoryPathIsRefused) {
  TempDir t;
  std::string msg = expect_store_error([&] { ExperimentStore s(t.path.string()); });
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
}

TEST(Store, MetricWriteThroughput) {
  // Not a benchmark gate: prints rates so regressions are visible, and makes
  // sure many small transactions (the trainer flushing every few batches)
  // stay cheap with WAL + synchronous=NORMAL.
  TempDir t;
  ExperimentStore s(t.file("p.db"));
  int64_t id = s.create_run(sample_run());
  std::vector<MetricPoint> big;
  for (int i = 0; i < 50000; ++i) big.push_back({i, i / 500, "train_loss", 1.0 / (i + 1)});
  auto t0 = std::chrono::steady_clock::now();
  s.add_metrics(id, big);
  auto t1 = std::chrono::steady_clock::now();
  for (int b = 0; b < 500; ++b) {
    std::vector<MetricPoint> small;
    for (int i = 0; i < 10; ++i) small.push_back({50000 + b * 10 + i, 100, "lr", 0.1});
    s.add_metrics(id, small);
  }
  auto t2 = std::chrono::steady_clock::now();
  double one = std::chrono::duration<double>(t1 - t0).count();
  double many = std::chrono::duration<double>(t2 - t1).count();
  std::printf("[ rate   ] one transaction: %.0f points/s; 500 transactions of 10: %.0f tx/s\n", 50000 / one,
              500 / many);
  auto t3 = std::chrono::steady_clock::now();
  auto runs = s.list_runs();
  auto series = s.metric_series(id, "train_loss");
  auto t4 = std::chrono::steady_clock::now();
  std::printf("[ rate   ] list_runs + 50k-point series: %.1f ms\n",
              std::chrono::duration<double, std::milli>(t4 - t3).count());
  EXPECT_EQ(series.size(), 50000u);
  EXPECT_EQ(runs[0].epochs, 100);
  EXPECT_LT(one, 10.0);
  EXPECT_LT(many, 20.0);
}

TEST(Store, RunOfAKilledProcessIsInterruptedButALiveOneIsNot) {
  // Real processes: a child creates a run and stays alive (another window),
  // then is killed with SIGKILL mid-run.
  TempDir t;
  std::string path = t.file("p.db");
  { ExperimentStore init(path); }
  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  pid_t child = fork();
  if (child == 0) {
    int64_t id = 0;
    try {
      ExperimentStore s(path);
      id = s.create_run(sample_run("child"));
      s.add_metric(id, 1, 1, "train_loss", 2.0);
    } catch (...) {
      _exit(3);
    }
    (void)!write(to_parent[1], &id, sizeof id);
    char c;
    (void)!read(to_child[0], &c, 1);  // wait to be killed
    _exit(0);
  }
  int64_t id = 0;
  ASSERT_EQ(read(to_parent[0], &id, sizeof id), ssize_t(sizeof id));
  ASSERT_GT(id, 0);
  {
    ExperimentStore s(path);  // the owner is alive: leave its run alone
    EXPECT_TRUE(s.recovered_runs().empty());
    EXPECT_EQ(s.run(id).status, RunStatus::Running);
    EXPECT_EQ(s.run(id).owner_pid, child);
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  ExperimentStore s(path);
  EXPECT_EQ(s.recovered_runs(), std::vector<int64_t>{id});
  EXPECT_EQ(s.run(id).status, RunStatus::Interrupted);
  EXPECT_EQ(s.metric_series(id, "train_loss").size(), 1u);  // committed data survives
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(fd);
}

// Watching another process's store (the studio's run watch): a read-only
// open sees the writer's rows and can write nothing.
TEST(StoreReadOnly, ReadsWhatAnotherConnectionWritesAndRefusesWrites) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("storero-" + std::to_string(getpid()))).string();
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/p.db";
  StoreOptions ro;
  ro.read_only = true;
  EXPECT_THROW(ExperimentStore(dir + "/missing.db", ro), StoreError);
  EXPECT_FALSE(std::filesystem::exists(dir + "/missing.db"));
  ExperimentStore writer(path);
  NewRun nr;
  nr.name = "watched";
  const int64_t id = writer.create_run(nr);
  writer.add_metric(id, 1, 0, "train_loss", 0.5);
  ExperimentStore reader(path, ro);
  EXPECT_EQ(reader.run(id).name, "watched");
  EXPECT_EQ(reader.run(id).status, RunStatus::Running);
  writer.add_metric(id, 2, 0, "train_loss", 0.25);
  EXPECT_EQ(reader.metric_series(id, "train_loss").size(), 2u);  // sees new points
  EXPECT_THROW(reader.add_metric(id, 3, 0, "train_loss", 0.1), StoreError);
  EXPECT_THROW(reader.finish_run(id, RunStatus::Finished), StoreError);
  EXPECT_EQ(writer.run(id).status, RunStatus::Running);
  std::filesystem::remove_all(dir);
}
