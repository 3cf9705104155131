#include "core/store/store.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/store/schema.h"
#include "core/store/store_statement.h"
#include "core/store/sha256.h"
#include "core/tensor/bounded_json.h"

namespace fs = std::filesystem;

namespace perceptra {

// ---------------------------------------------------------------- helpers

namespace {

double now_s() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string hostname() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) return "unknown";
  return host;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Process identity that survives pid reuse: boot id + the process's start
// time in clock ticks since boot (field 22 of /proc/<pid>/stat). Empty when
// /proc is unavailable.
std::string process_token(long pid) {
  std::string stat = read_first_line("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return "";
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 0; i < 20 && rest >> field; ++i) {}
  if (field.empty()) return "";
  return read_first_line("/proc/sys/kernel/random/boot_id") + ":" + field;
}

bool pid_exists(long pid) {
  if (pid <= 0) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// Columns are untrusted (the database is a user file): nesting is bounded
// before parsing (a deep document would overflow the stack when copied),
// and a column that is not JSON is kept as its text.
nlohmann::json parse_json_column(const char* text, const char* column, const std::string& row, const std::string& db) {
  if (!text || !*text) return nlohmann::json::object();
  std::string_view t(text);
  if (json_nesting_depth(t, kMaxJsonDepth) > kMaxJsonDepth)
    throw StoreError(db, row + ": column '" + column + "' holds JSON nested more than " +
                             std::to_string(kMaxJsonDepth) + " levels deep (corrupt or hostile row)");
  auto j = try_parse_json_bounded(t);
  return j ? std::move(*j) : nlohmann::json(std::string(t));
}

}  // namespace

std::string to_string(RunStatus s) {
  switch (s) {
    case RunStatus::Running:
      return "running";
    case RunStatus::Finished:
      return "finished";
    case RunStatus::Stopped:
      return "stopped";
    case RunStatus::Diverged:
      return "diverged";
    case RunStatus::Failed:
      return "failed";
    case RunStatus::Interrupted:
      return "interrupted";
  }
  return "failed";
}

RunStatus parse_run_status(const std::string& text) {
  for (auto s : {RunStatus::Running, RunStatus::Finished, RunStatus::Stopped, RunStatus::Diverged, RunStatus::Failed,
                 RunStatus::Interrupted})
    if (to_string(s) == text) return s;
  throw Error("unknown run status '" + text + "'");
}

// ---------------------------------------------------------------- open

std::string ExperimentStore::default_path(bool honour_env) {
  if (const char* p = std::getenv("PERCEPTRA_DB"); honour_env && p && *p) return p;
  fs::path base;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
    base = x;
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = fs::path(h) / ".local" / "share";
  } else {
    base = fs::current_path();
  }
  return (base / "perceptra" / "perceptra.db").string();
}

ExperimentStore::ExperimentStore(const std::string& path, const StoreOptions& options)
    : path_(path), options_(options) {
  if (path_.empty()) throw StoreError("(empty path)", "no database file given");
  if (path_ != ":memory:") {
    fs::path p(path_);
    std::error_code ec;
    if (options_.read_only && !fs::exists(p, ec)) throw StoreError(path_, "does not exist (opened read-only)");
    if (p.has_parent_path() && !fs::exists(p.parent_path(), ec)) {
      fs::create_directories(p.parent_path(), ec);
      if (ec) throw StoreError(path_, "cannot create directory '" + p.parent_path().string() + "': " + ec.message());
    }
    if (fs::is_directory(p, ec)) throw StoreError(path_, "is a directory, not a database file");
  }
  try {
    open_and_migrate();
  } catch (...) {
    if (db_) sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

ExperimentStore::~ExperimentStore() {
  if (db_) sqlite3_close_v2(db_);
}

void ExperimentStore::raise(int rc, const std::string& what) {
  std::string detail = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  // User-facing text for the states a person can act on; SQLite's own words
  // (and what we were doing) otherwise.
  std::string problem;
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      problem =
          "not an SQLite database (another kind of file, or overwritten); choose another "
          "file or move this one aside";
      break;
    case SQLITE_CORRUPT:
      problem = "database file is corrupt (" + detail + "); move it aside or restore a backup";
      break;
    case SQLITE_READONLY:
      problem = "database is read-only (" + detail + "); check permissions of the file and its directory";
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      problem = "database is locked by another process (waited " + std::to_string(options_.busy_timeout_ms) +
                " ms); try again when it is done";
      break;
    case SQLITE_CANTOPEN:
      problem = "cannot open database file (" + detail + ")";
      break;
    case SQLITE_FULL:
      problem = "disk full while writing the database";
      break;
    case SQLITE_IOERR:
      problem = "I/O error (" + detail + ") while " + what;
      break;
    default:
      problem = detail + " (while " + what + ")";
  }
  throw StoreError(path_, problem);
}

void ExperimentStore::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) raise(rc, std::string("executing '") + std::string(sql).substr(0, 40) + "'");
}

void ExperimentStore::open_and_migrate() {
  const int mode = options_.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path_.c_str(), &db_, mode | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) raise(rc, "opening");
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options_.busy_timeout_ms);
  // The first statement reads the file header: a non-database fails here.
  exec("PRAGMA foreign_keys = ON");
  if (!options_.read_only) {
    {
      Stmt st(*this, "PRAGMA journal_mode = WAL");
      st.run();
    }
    exec("PRAGMA synchronous = NORMAL");  // safe with WAL: durable at checkpoint, never corrupt
  }

  int version = 0;
  {
    Stmt t(*this, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'");
    t.step();
    bool has_version_table = t.i64(0) > 0;
    if (has_version_table) {
      Stmt v(*this, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
      v.step();
      version = int(v.i64(0));
    } else {
      Stmt any(*this, "SELECT count(*) FROM sqlite_master WHERE type='table'");
      any.step();
      if (any.i64(0) > 0)
        throw StoreError(path_,
                         "is an SQLite database but not a Perceptra store (no schema_version "
                         "table); choose another file");
    }
  }
  if (version > kSchemaVersion)
    throw StoreError(path_, "schema version " + std::to_string(version) +
                                " is newer than this build of Perceptra supports (" + std::to_string(kSchemaVersion) +
                                "); upgrade Perceptra");
  if (version < kSchemaVersion && options_.read_only)
    throw StoreError(path_, "schema version " + std::to_string(version) + " is older than this build's (" +
                                std::to_string(kSchemaVersion) + ") and a read-only open cannot upgrade it");
  if (version < kSchemaVersion) migrate(version);
  if (options_.recover_interrupted && !options_.read_only) {
    recovered_ = recover_locked();
    recover_sweeps_locked();
  }
}

void ExperimentStore::migrate(int from) {
  const auto& steps = store_schema::migrations();
  write_tx([&] {
    // Re-read under the write lock: another process may have migrated meanwhile.
    int current = from;
    {
      Stmt t(*this, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'");
      t.step();
      if (t.i64(0) > 0) {
        Stmt v(*this, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
        v.step();
        current = int(v.i64(0));
      }
    }
    for (int v = current; v < kSchemaVersion; ++v) {
      exec(steps.at(size_t(v)));
      Stmt ins(*this, "INSERT INTO schema_version(version, applied_at) VALUES (?, ?)");
      ins.bind(1, v + 1).bind(2, now_s()).run();
    }
  });
}

int ExperimentStore::schema_version() {
  std::lock_guard lock(mutex_);
  Stmt v(*this, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
  v.step();
  return int(v.i64(0));
}

std::string ExperimentStore::journal_mode() {
  std::lock_guard lock(mutex_);
  Stmt st(*this, "PRAGMA journal_mode");
  st.step();
  return st.text(0);
}

// ---------------------------------------------------------------- recovery

std::vector<int64_t> ExperimentStore::recover_interrupted() {
  std::lock_guard lock(mutex_);
  return recover_locked();
}

std::vector<int64_t> ExperimentStore::recover_locked() {
  std::vector<int64_t> dead;
  write_tx([&] {
    const std::string host = hostname();
    const double now = now_s();
    Stmt q(*this,
           "SELECT id, owner_pid, owner_host, owner_token, COALESCE(heartbeat_at, started_at, "
           "created_at) FROM runs WHERE status = 'running'");
    while (q.step()) {
      int64_t id = q.i64(0);
      long pid = long(q.i64(1));
      std::string owner_host = q.text(2), token = q.text(3);
      double heartbeat = q.f64(4);
      bool fresh = now - heartbeat < options_.stale_heartbeat_s;
      bool alive;
      if (owner_host == host && !token.empty())
        alive = pid_exists(pid) && process_token(pid) == token;
      else if (owner_host == host)
        alive = pid_exists(pid) && fresh;  // no token (older schema): pid + heartbeat
      else
        alive = fresh;  // other machine: only the heartbeat tells
      if (!alive) dead.push_back(id);
    }
    Stmt up(*this,
            "UPDATE runs SET status = 'interrupted', ended_at = COALESCE(heartbeat_at, "
            "started_at, created_at), status_message = ? WHERE id = ?");
    for (int64_t id : dead) {
      up.bind(1, std::string("owner process ended while the run was running")).bind(2, id).run();
      up.reset();
    }
  });
  return dead;
}

// ---------------------------------------------------------------- datasets

int64_t ExperimentStore::register_dataset(const DatasetRecord& d) {
  std::lock_guard lock(mutex_);
  int64_t id = 0;
  write_tx([&] {
    Stmt f(*this, "SELECT id FROM datasets WHERE name = ? AND path = ? AND fingerprint = ?");
    f.bind(1, d.name).bind(2, d.path).bind(3, d.fingerprint);
    if (f.step()) {
      id = f.i64(0);
      return;
    }
    Stmt ins(*this,
             "INSERT INTO datasets(name, path, kind, fingerprint, num_classes, num_train, "
             "num_valid, info, created_at) VALUES (?,?,?,?,?,?,?,?,?)");
    ins.bind(1, d.name)
        .bind(2, d.path)
        .bind(3, d.kind)
        .bind(4, d.fingerprint)
        .bind(5, d.num_classes)
        .bind(6, d.num_train)
        .bind(7, d.num_valid)
        .bind(8, dump_json_safe(d.info))
        .bind(9, now_s())
        .run();
    id = sqlite3_last_insert_rowid(db_);
  });
  return id;
}

namespace {
constexpr const char* kDatasetCols =
    "SELECT id, name, path, kind, fingerprint, num_classes, num_train, num_valid, info, "
    "created_at FROM datasets";
}

std::vector<DatasetRecord> ExperimentStore::datasets() {
  std::lock_guard lock(mutex_);
  std::vector<DatasetRecord> out;
  Stmt q(*this, (std::string(kDatasetCols) + " ORDER BY id").c_str());
  while (q.step()) {
    DatasetRecord d;
    d.id = q.i64(0);
    d.name = q.text(1);
    d.path = q.text(2);
    d.kind = q.text(3);
    d.fingerprint = q.text(4);
    d.num_classes = int(q.i64(5));
    d.num_train = q.i64(6);
    d.num_valid = q.i64(7);
    try {
      d.info = parse_json_column(q.ctext(8), "info", "dataset " + std::to_string(d.id), path_);
    } catch (const StoreError&) {
      d.info = nlohmann::json::object();  // descriptive only: the record stays usable
    }
    d.created_at = q.f64(9);
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<DatasetRecord> ExperimentStore::dataset(int64_t id) {
  for (auto& d : datasets())
    if (d.id == id) return d;
  return std::nullopt;
}

// ---------------------------------------------------------------- runs

namespace {
constexpr const char* kRunCols =
    "SELECT id, name, status, status_message, created_at, started_at, ended_at, heartbeat_at, "
    "seed, dataset_id, model_spec, hparams, machine, notes, owner_pid, owner_host, sweep_id, "
    "trial_index, trial_params, early_terminated, dataset_version FROM runs";
}

RunRecord ExperimentStore::read_run_row(Stmt& q) {
  RunRecord r;
  r.id = q.i64(0);
  r.name = q.text(1);
  try {
    r.status = parse_run_status(q.text(2));
  } catch (const Error& e) {
    throw StoreError(path_, "run " + std::to_string(r.id) + ": " + e.what());
  }
  r.status_message = q.text(3);
  r.created_at = q.f64(4);
  r.started_at = q.f64(5);
  r.ended_at = q.f64(6);
  r.heartbeat_at = q.f64(7);
  r.seed = static_cast<uint64_t>(q.i64(8));
  if (!q.is_null(9)) r.dataset_id = q.i64(9);
  const std::string row = "run " + std::to_string(r.id);
  r.model_spec = parse_json_column(q.ctext(10), "model_spec", row, path_);
  r.hparams = parse_json_column(q.ctext(11), "hparams", row, path_);
  r.machine = parse_json_column(q.ctext(12), "machine", row, path_);
  r.notes = q.text(13);
  r.owner_pid = q.i64(14);
  r.owner_host = q.text(15);
  if (!q.is_null(16)) r.sweep_id = q.i64(16);
  r.trial_index = q.is_null(17) ? -1 : q.i64(17);
  r.trial_params = parse_json_column(q.ctext(18), "trial_params", row, path_);
  r.early_terminated = q.i64(19) != 0;
  r.dataset_version = q.i64(20);
  return r;
}

void ExperimentStore::require_run(int64_t run_id) {
  Stmt q(*this, "SELECT 1 FROM runs WHERE id = ?");
  q.bind(1, run_id);
  if (!q.step()) throw StoreError(path_, "no run with id " + std::to_string(run_id));
}

int64_t ExperimentStore::create_run(const NewRun& nr) {
  std::lock_guard lock(mutex_);
  int64_t id = 0;
  write_tx([&] {
    if (nr.dataset_id) {
      Stmt d(*this, "SELECT 1 FROM datasets WHERE id = ?");
      d.bind(1, *nr.dataset_id);
      if (!d.step()) throw StoreError(path_, "no dataset with id " + std::to_string(*nr.dataset_id));
    }
    const double now = now_s();
    Stmt ins(*this,
             "INSERT INTO runs(name, status, created_at, started_at, seed, dataset_id, "
             "model_spec, hparams, machine, notes, owner_pid, owner_host, owner_token, "
             "heartbeat_at, dataset_version) VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, nr.name)
        .bind(2, now)
        .bind(3, now)
        .bind(4, static_cast<int64_t>(nr.seed))
        .bind_opt(5, nr.dataset_id)
        .bind(6, dump_json_safe(nr.model_spec))
        .bind(7, dump_json_safe(nr.hparams))
        .bind(8, dump_json_safe(nr.machine))
        .bind(9, nr.notes)
        .bind(10, int64_t(getpid()))
        .bind(11, hostname())
        .bind(12, process_token(getpid()))
        .bind(13, now)
        .bind(14, nr.dataset_version)
        .run();
    id = sqlite3_last_insert_rowid(db_);
    if (nr.name.empty()) {
      Stmt nm(*this, "UPDATE runs SET name = ? WHERE id = ?");
      nm.bind(1, "run-" + std::to_string(id)).bind(2, id).run();
    }
  });
  return id;
}

std::optional<RunRecord> ExperimentStore::find_run(int64_t id) {
  std::lock_guard lock(mutex_);
  Stmt q(*this, (std::string(kRunCols) + " WHERE id = ?").c_str());
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return read_run_row(q);
}

RunRecord ExperimentStore::run(int64_t id) {
  auto r = find_run(id);
  if (!r) throw StoreError(path_, "no run with id " + std::to_string(id));
  return *r;
}

void ExperimentStore::heartbeat(int64_t run_id) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    Stmt up(*this, "UPDATE runs SET heartbeat_at = ? WHERE id = ?");
    up.bind(1, now_s()).bind(2, run_id).run();
  });
}

void ExperimentStore::finish_run(int64_t run_id, RunStatus status, const std::string& message) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(run_id);
    const double now = now_s();
    Stmt up(*this,
            "UPDATE runs SET status = ?, status_message = ?, ended_at = ?, heartbeat_at = ? "
            "WHERE id = ?");
    up.bind(1, to_string(status)).bind(2, message);
    if (status == RunStatus::Running)
      up.bind_null(3);
    else
      up.bind(3, now);
    up.bind(4, now).bind(5, run_id).run();
  });
}

RunRecord ExperimentStore::reopen_run(int64_t run_id) {
  std::lock_guard lock(mutex_);
  RunRecord before;
  write_tx([&] {
    // Checked and claimed in one IMMEDIATE transaction: of two processes
    // resuming the same run, the second sees it 'running' under a live
    // owner and is refused.
    Stmt q(*this,
           "SELECT status, owner_pid, owner_host, owner_token, status_message, COALESCE(ended_at, 0) "
           "FROM runs WHERE id = ?");
    q.bind(1, run_id);
    if (!q.step()) throw StoreError(path_, "no run with id " + std::to_string(run_id));
    before.id = run_id;
    before.status = parse_run_status(q.text(0));
    before.owner_pid = q.i64(1);
    before.owner_host = q.text(2);
    before.status_message = q.text(4);
    before.ended_at = q.f64(5);
    if (before.status == RunStatus::Running) {
      const std::string token = q.text(3);
      const bool ours = before.owner_pid == getpid() && before.owner_host == hostname();
      const bool alive =
          before.owner_host != hostname() ||
          (pid_exists(long(before.owner_pid)) && (token.empty() || process_token(long(before.owner_pid)) == token));
      if (!ours && alive)
        throw StoreError(path_, "run " + std::to_string(run_id) + " is already running (owned by pid " +
                                    std::to_string(before.owner_pid) + " on " + before.owner_host + ")");
    }
    Stmt up(*this,
            "UPDATE runs SET status = 'running', status_message = '', ended_at = NULL, "
            "owner_pid = ?, owner_host = ?, owner_token = ?, heartbeat_at = ? WHERE id = ?");
    up.bind(1, int64_t(getpid()))
        .bind(2, hostname())
        .bind(3, process_token(getpid()))
        .bind(4, now_s())
        .bind(5, run_id)
        .run();
  });
  return before;
}

void ExperimentStore::restore_run_status(const RunRecord& before, const std::string& note) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(before.id);
    Stmt up(*this, "UPDATE runs SET status = ?, status_message = ?, ended_at = ?, heartbeat_at = ? WHERE id = ?");
    std::string message = before.status_message;
    if (!note.empty()) message += (message.empty() ? "" : "; ") + note;
    up.bind(1, to_string(before.status)).bind(2, message);
    if (before.ended_at > 0)
      up.bind(3, before.ended_at);
    else
      up.bind_null(3);
    up.bind(4, now_s()).bind(5, before.id).run();
  });
}

void ExperimentStore::rename_run(int64_t run_id, const std::string& name) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(run_id);
    Stmt up(*this, "UPDATE runs SET name = ? WHERE id = ?");
    up.bind(1, name).bind(2, run_id).run();
  });
}

void ExperimentStore::set_notes(int64_t run_id, const std::string& notes) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(run_id);
    Stmt up(*this, "UPDATE runs SET notes = ? WHERE id = ?");
    up.bind(1, notes).bind(2, run_id).run();
  });
}

void ExperimentStore::update_hparams(int64_t run_id, const nlohmann::json& hparams) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(run_id);
    Stmt up(*this, "UPDATE runs SET hparams = ? WHERE id = ?");
    up.bind(1, dump_json_safe(hparams)).bind(2, run_id).run();
  });
}

std::vector<std::string> ExperimentStore::delete_run(int64_t run_id, bool remove_files) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> paths;
  write_tx([&] {
    require_run(run_id);
    Stmt a(*this, "SELECT path FROM artifacts WHERE run_id = ?");
    a.bind(1, run_id);
    while (a.step()) paths.push_back(a.text(0));
    // Explicit deletes as well as ON DELETE CASCADE: correct even on a
    // connection where foreign keys were left off.
    Stmt dm(*this, "DELETE FROM metrics WHERE run_id = ?");
    dm.bind(1, run_id).run();
    Stmt da(*this, "DELETE FROM artifacts WHERE run_id = ?");
    da.bind(1, run_id).run();
    Stmt dr(*this, "DELETE FROM runs WHERE id = ?");
    dr.bind(1, run_id).run();
  });
  if (remove_files) {
    for (const auto& p : paths) {
      if (!inside_run_folder(p, run_id)) continue;  // never a file elsewhere
      std::error_code ec;
      fs::remove(p, ec);                          // a missing file is fine: the row is what mattered
      fs::remove(fs::path(p).parent_path(), ec);  // the folder, once empty
    }
  }
  return paths;
}

bool inside_run_folder(const std::string& path, int64_t run_id) {
  // Artifact paths come from the database, which is a user file: a row may
  // name any file. Only a regular file (not a symlink), named by a normalised
  // absolute path (no '..'), directly inside a folder named run-<id> or
  // run-<id>-<k> (what the trainer creates) is the run's own.
  std::error_code ec;
  fs::path p(path);
  if (!p.is_absolute() || p.lexically_normal() != p) return false;
  if (!fs::is_regular_file(fs::symlink_status(p, ec))) return false;
  // The folder's real name (a symlinked folder counts by its target's name).
  const fs::path parent = fs::weakly_canonical(p.parent_path(), ec);
  if (ec) return false;
  const std::string dir = parent.filename().string(), base = "run-" + std::to_string(run_id);
  if (dir == base) return true;
  if (dir.rfind(base + "-", 0) != 0 || dir.size() == base.size() + 1) return false;
  return std::all_of(dir.begin() + std::ptrdiff_t(base.size()) + 1, dir.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

// ---------------------------------------------------------------- summaries

namespace {
constexpr const char* kSummarySql =
    "SELECT (SELECT MAX(value) FROM metrics WHERE run_id = ?1 AND name = 'valid_accuracy'),"
    " (SELECT value FROM metrics WHERE run_id = ?1 AND name = 'train_loss'"
    "   ORDER BY step DESC, rowid DESC LIMIT 1),"
    " (SELECT value FROM metrics WHERE run_id = ?1 AND name = 'valid_loss'"
    "   ORDER BY step DESC, rowid DESC LIMIT 1),"
    " (SELECT COALESCE(MAX(epoch), 0) FROM metrics WHERE run_id = ?1),"
    " (SELECT MAX(value) FROM metrics WHERE run_id = ?1 AND name = 'trained_seconds')";
}

RunSummary ExperimentStore::summary_locked(const RunRecord& r) {
  RunSummary s;
  s.run = r;
  Stmt q(*this, kSummarySql);
  q.bind(1, r.id);
  q.step();
  s.best_valid_accuracy = q.opt_f64(0);
  s.final_train_loss = q.opt_f64(1);
  s.final_valid_loss = q.opt_f64(2);
  s.epochs = q.i64(3);
  double end = r.ended_at > 0                   ? r.ended_at
               : r.status == RunStatus::Running ? now_s()
                                                : std::max(r.heartbeat_at, r.started_at);
  s.duration_s = r.started_at > 0 ? std::max(0.0, end - r.started_at) : 0.0;
  // Time actually trained, when the run recorded it (the recorder writes it
  // every few seconds): wall time would count the gap before a resume, and
  // a killed run's heartbeat may be older than its last batches.
  if (auto trained = q.opt_f64(4)) {
    s.duration_s = *trained;
    if (r.status == RunStatus::Running && r.heartbeat_at > 0) s.duration_s += std::max(0.0, now_s() - r.heartbeat_at);
  }
  return s;
}

std::vector<RunSummary> ExperimentStore::list_runs(std::optional<int64_t> sweep_id,
                                                   std::vector<std::string>* bad_rows) {
  std::lock_guard lock(mutex_);
  std::vector<RunRecord> runs;
  {
    Stmt q(*this, (std::string(kRunCols) + (sweep_id ? " WHERE sweep_id = ?" : "") + " ORDER BY id DESC").c_str());
    if (sweep_id) q.bind(1, *sweep_id);
    while (q.step()) {
      try {
        runs.push_back(read_run_row(q));
      } catch (const StoreError& e) {
        if (bad_rows) bad_rows->push_back(e.problem());
      }
    }
  }
  std::vector<RunSummary> out;
  out.reserve(runs.size());
  for (const auto& r : runs) out.push_back(summary_locked(r));
  return out;
}

RunSummary ExperimentStore::run_summary(int64_t run_id) {
  std::lock_guard lock(mutex_);
  auto r = run(run_id);
  return summary_locked(r);
}

// ---------------------------------------------------------------- metrics

void ExperimentStore::add_metrics(int64_t run_id, const std::vector<MetricPoint>& points) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(run_id);
    Stmt ins(*this, "INSERT INTO metrics(run_id, step, epoch, name, value) VALUES (?,?,?,?,?)");
    for (const auto& p : points) {
      ins.bind(1, run_id).bind(2, p.step).bind(3, p.epoch).bind(4, p.name);
      // SQLite stores NaN as NULL, which the NOT NULL column rejects; a
      // diverged loss is recorded as +inf so the curve shows the blow-up.
      double v = std::isnan(p.value) ? std::numeric_limits<double>::infinity() : p.value;
      ins.bind(5, v).run();
      ins.reset();
    }
    Stmt hb(*this, "UPDATE runs SET heartbeat_at = ? WHERE id = ?");
    hb.bind(1, now_s()).bind(2, run_id).run();
  });
}

void ExperimentStore::add_metric(int64_t run_id, int64_t step, int64_t epoch, const std::string& name, double value) {
  add_metrics(run_id, {MetricPoint{step, epoch, name, value}});
}

std::vector<std::string> ExperimentStore::metric_names(int64_t run_id) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  Stmt q(*this, "SELECT DISTINCT name FROM metrics WHERE run_id = ? ORDER BY name");
  q.bind(1, run_id);
  while (q.step()) names.push_back(q.text(0));
  return names;
}

MetricSeries ExperimentStore::metric_series(int64_t run_id, const std::string& name) {
  std::lock_guard lock(mutex_);
  MetricSeries s;
  s.name = name;
  Stmt q(*this,
         "SELECT step, epoch, value FROM metrics WHERE run_id = ? AND name = ? "
         "ORDER BY step, rowid");
  q.bind(1, run_id).bind(2, name);
  while (q.step()) {
    s.steps.push_back(q.i64(0));
    s.epochs.push_back(q.i64(1));
    s.values.push_back(q.f64(2));
  }
  return s;
}

ComparedSeries ExperimentStore::compare_runs(const std::vector<int64_t>& run_ids, const std::string& name,
                                             Align align) {
  ComparedSeries c;
  c.name = name;
  c.align = align;
  c.run_ids = run_ids;
  std::vector<std::map<int64_t, double>> per_run;
  std::set<int64_t> xs;
  for (int64_t id : run_ids) {
    {
      std::lock_guard lock(mutex_);
      require_run(id);
    }
    auto s = metric_series(id, name);
    std::map<int64_t, double> m;
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t x = align == Align::Step ? s.steps[i] : s.epochs[i];
      m[x] = s.values[i];  // ordered by step: the last point of an x wins
      xs.insert(x);
    }
    per_run.push_back(std::move(m));
  }
  c.x.assign(xs.begin(), xs.end());
  for (const auto& m : per_run) {
    std::vector<double> v;
    v.reserve(c.x.size());
    for (int64_t x : c.x) {
      auto it = m.find(x);
      v.push_back(it == m.end() ? std::numeric_limits<double>::quiet_NaN() : it->second);
    }
    c.values.push_back(std::move(v));
  }
  return c;
}

// ---------------------------------------------------------------- artifacts

int64_t ExperimentStore::add_artifact(int64_t run_id, const std::string& kind, const std::string& path) {
  static const std::set<std::string> kinds = {"checkpoint", "best", "last", "model", "onnx"};
  if (!kinds.count(kind))
    throw StoreError(path_, "unknown artifact kind '" + kind + "' (expected checkpoint, best, last, model or onnx)");
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec || !fs::is_regular_file(abs, ec)) throw StoreError(path, "artifact file does not exist");
  std::string sum = sha256_file(abs.string());
  int64_t size = int64_t(fs::file_size(abs, ec));
  std::lock_guard lock(mutex_);
  int64_t id = 0;
  write_tx([&] {
    require_run(run_id);
    // A file re-saved in place (the "last" checkpoint every epoch) keeps one
    // row, refreshed, instead of one row per save.
    Stmt find(*this, "SELECT id FROM artifacts WHERE run_id = ? AND kind = ? AND path = ?");
    find.bind(1, run_id).bind(2, kind).bind(3, abs.string());
    if (find.step()) {
      id = find.i64(0);
      Stmt up(*this, "UPDATE artifacts SET created_at = ?, sha256 = ?, size_bytes = ? WHERE id = ?");
      up.bind(1, now_s()).bind(2, sum).bind(3, size).bind(4, id).run();
      return;
    }
    Stmt ins(*this,
             "INSERT INTO artifacts(run_id, kind, path, created_at, sha256, size_bytes) "
             "VALUES (?,?,?,?,?,?)");
    ins.bind(1, run_id).bind(2, kind).bind(3, abs.string()).bind(4, now_s()).bind(5, sum).bind(6, size).run();
    id = sqlite3_last_insert_rowid(db_);
  });
  return id;
}

namespace {
constexpr const char* kArtifactCols = "SELECT id, run_id, kind, path, sha256, size_bytes, created_at FROM artifacts";
}

std::vector<ArtifactRecord> ExperimentStore::artifacts(int64_t run_id) {
  std::lock_guard lock(mutex_);
  std::vector<ArtifactRecord> out;
  Stmt q(*this, (std::string(kArtifactCols) + " WHERE run_id = ? ORDER BY created_at, id").c_str());
  q.bind(1, run_id);
  while (q.step()) {
    ArtifactRecord a;
    a.id = q.i64(0);
    a.run_id = q.i64(1);
    a.kind = q.text(2);
    a.path = q.text(3);
    a.sha256 = q.text(4);
    a.size_bytes = q.i64(5);
    a.created_at = q.f64(6);
    out.push_back(std::move(a));
  }
  return out;
}

std::optional<ArtifactRecord> ExperimentStore::latest_artifact(int64_t run_id, const std::string& kind) {
  std::optional<ArtifactRecord> best;
  for (auto& a : artifacts(run_id))
    if (a.kind == kind) best = a;  // ordered oldest first
  return best;
}

bool ExperimentStore::verify_artifact(const ArtifactRecord& a) {
  std::error_code ec;
  if (!fs::is_regular_file(a.path, ec)) return false;
  try {
    return sha256_file(a.path) == a.sha256;
  } catch (const StoreError&) {
    return false;
  }
}

// ---------------------------------------------------------------- sweeps

namespace {
constexpr const char* kSweepCols =
    "SELECT id, name, spec, status, status_message, created_at, ended_at, owner_pid, owner_host "
    "FROM sweeps";
}

void ExperimentStore::recover_sweeps_locked() {
  write_tx([&] {
    const std::string host = hostname();
    std::vector<int64_t> dead;
    Stmt q(*this, "SELECT id, owner_pid, owner_host, owner_token FROM sweeps WHERE status = 'running'");
    while (q.step()) {
      // Same host: the pid with its start-time token. Another host's sweep
      // has no heartbeat to judge by, so it counts as alive.
      if (q.text(2) == host && !(pid_exists(long(q.i64(1))) && process_token(long(q.i64(1))) == q.text(3)))
        dead.push_back(q.i64(0));
    }
    Stmt up(*this,
            "UPDATE sweeps SET status = 'interrupted', ended_at = ?, status_message = ? "
            "WHERE id = ?");
    for (int64_t id : dead) {
      up.bind(1, now_s()).bind(2, std::string("owner process ended while the sweep was running")).bind(3, id).run();
      up.reset();
    }
  });
}

int64_t ExperimentStore::create_sweep(const std::string& name, const nlohmann::json& spec) {
  std::lock_guard lock(mutex_);
  int64_t id = 0;
  write_tx([&] {
    Stmt ins(*this,
             "INSERT INTO sweeps(name, spec, status, created_at, owner_pid, owner_host, "
             "owner_token) VALUES (?, ?, 'running', ?, ?, ?, ?)");
    ins.bind(1, name)
        .bind(2, spec.dump())
        .bind(3, now_s())
        .bind(4, int64_t(getpid()))
        .bind(5, hostname())
        .bind(6, process_token(getpid()))
        .run();
    id = sqlite3_last_insert_rowid(db_);
    if (name.empty()) {
      Stmt nm(*this, "UPDATE sweeps SET name = ? WHERE id = ?");
      nm.bind(1, "sweep-" + std::to_string(id)).bind(2, id).run();
    }
  });
  return id;
}

std::vector<SweepRecord> ExperimentStore::list_sweeps() {
  std::lock_guard lock(mutex_);
  std::vector<SweepRecord> out;
  Stmt q(*this, (std::string(kSweepCols) + " ORDER BY id DESC").c_str());
  while (q.step()) {
    SweepRecord r;
    r.id = q.i64(0);
    r.name = q.text(1);
    r.spec = parse_json_column(q.ctext(2), "spec", "sweep " + std::to_string(r.id), path_);
    r.status = q.text(3);
    r.status_message = q.text(4);
    r.created_at = q.f64(5);
    r.ended_at = q.f64(6);
    r.owner_pid = q.i64(7);
    r.owner_host = q.text(8);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<SweepRecord> ExperimentStore::find_sweep(int64_t id) {
  for (auto& s : list_sweeps())
    if (s.id == id) return s;
  return std::nullopt;
}

SweepRecord ExperimentStore::sweep(int64_t id) {
  auto s = find_sweep(id);
  if (!s) throw StoreError(path_, "no sweep with id " + std::to_string(id));
  return *s;
}

void ExperimentStore::finish_sweep(int64_t id, const std::string& status, const std::string& message) {
  if (status != "running" && status != "finished" && status != "stopped" && status != "interrupted")
    throw StoreError(path_, "unknown sweep status '" + status + "'");
  std::lock_guard lock(mutex_);
  write_tx([&] {
    Stmt up(*this, "UPDATE sweeps SET status = ?, status_message = ?, ended_at = ? WHERE id = ?");
    up.bind(1, status).bind(2, message);
    if (status == "running")
      up.bind_null(3);
    else
      up.bind(3, now_s());
    up.bind(4, id).run();
    if (sqlite3_changes(db_) == 0) throw StoreError(path_, "no sweep with id " + std::to_string(id));
  });
}

void ExperimentStore::reopen_sweep(int64_t id) {
  std::lock_guard lock(mutex_);
  recover_sweeps_locked();
  write_tx([&] {
    Stmt q(*this, "SELECT status, owner_pid, owner_host FROM sweeps WHERE id = ?");
    q.bind(1, id);
    if (!q.step()) throw StoreError(path_, "no sweep with id " + std::to_string(id));
    if (q.text(0) == "running")
      throw StoreError(path_, "sweep " + std::to_string(id) + " is still running (owned by pid " +
                                  std::to_string(q.i64(1)) + " on " + q.text(2) + ")");
    Stmt up(*this,
            "UPDATE sweeps SET status = 'running', status_message = '', ended_at = NULL, "
            "owner_pid = ?, owner_host = ?, owner_token = ? WHERE id = ?");
    up.bind(1, int64_t(getpid())).bind(2, hostname()).bind(3, process_token(getpid())).bind(4, id).run();
  });
}

void ExperimentStore::set_run_trial(int64_t run_id, int64_t sweep_id, int64_t trial_index,
                                    const nlohmann::json& params) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(run_id);
    Stmt s(*this, "SELECT 1 FROM sweeps WHERE id = ?");
    s.bind(1, sweep_id);
    if (!s.step()) throw StoreError(path_, "no sweep with id " + std::to_string(sweep_id));
    Stmt up(*this, "UPDATE runs SET sweep_id = ?, trial_index = ?, trial_params = ? WHERE id = ?");
    up.bind(1, sweep_id).bind(2, trial_index).bind(3, params.dump()).bind(4, run_id).run();
  });
}

void ExperimentStore::mark_early_terminated(int64_t run_id, bool early) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(run_id);
    Stmt up(*this, "UPDATE runs SET early_terminated = ? WHERE id = ?");
    up.bind(1, int64_t(early ? 1 : 0)).bind(2, run_id).run();
  });
}

std::vector<RunRecord> ExperimentStore::sweep_runs(int64_t sweep_id) {
  std::lock_guard lock(mutex_);
  std::vector<RunRecord> out;
  Stmt q(*this, (std::string(kRunCols) + " WHERE sweep_id = ? ORDER BY trial_index, id").c_str());
  q.bind(1, sweep_id);
  while (q.step()) out.push_back(read_run_row(q));
  return out;
}

}  // namespace perceptra
