// Dataset versions and per-image ledgers (schema 4). What they mean is in
// core/curate; here they are rows: a version and its changes in one
// transaction, a ledger as one blob per run.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "core/store/store.h"
#include "core/store/store_statement.h"

namespace perceptra {

namespace {

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// Crash tests only: with PERCEPTRA_TEST_STALL_WRITE=<file> set, a curation
// write stops half-way through its transaction, creates <file> and sleeps,
// so a test can SIGKILL the process at exactly that point.
void test_stall_point() {
  const char* marker = std::getenv("PERCEPTRA_TEST_STALL_WRITE");
  if (!marker || !*marker) return;
  { std::ofstream(marker) << getpid() << "\n"; }
  std::this_thread::sleep_for(std::chrono::seconds(60));
}

bool valid_action(const std::string& a) { return a == "relabel" || a == "exclude" || a == "restore"; }

}  // namespace

int64_t ExperimentStore::add_dataset_version(const std::string& dataset_key, int64_t parent,
                                             const std::vector<ImageChange>& changes, const std::string& author,
                                             const std::string& reason) {
  if (dataset_key.empty()) throw StoreError(path_, "dataset version without a dataset");
  if (changes.empty()) throw StoreError(path_, "dataset version without changes");
  for (const auto& c : changes) {
    if (c.image.empty()) throw StoreError(path_, "dataset change without an image");
    if (!valid_action(c.action))
      throw StoreError(path_, "dataset change for '" + c.image + "': unknown action '" + c.action +
                                  "' (relabel, exclude or restore)");
    if (c.action == "relabel" && c.label < 0) throw StoreError(path_, "relabel of '" + c.image + "' without a class");
  }
  std::lock_guard lock(mutex_);
  int64_t version = 0;
  write_tx([&] {
    Stmt latest(*this, "SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE dataset_key = ?");
    latest.bind(1, dataset_key);
    latest.step();
    version = latest.i64(0) + 1;
    if (parent < 0 || parent >= version)
      throw StoreError(path_, "dataset '" + dataset_key + "' has no version " + std::to_string(parent) +
                                  " to build on (latest is " + std::to_string(version - 1) + ")");
    Stmt ins(*this,
             "INSERT INTO dataset_versions(dataset_key, version, parent, author, reason, created_at) "
             "VALUES (?,?,?,?,?,?)");
    ins.bind(1, dataset_key)
        .bind(2, version)
        .bind(3, parent)
        .bind(4, author)
        .bind(5, reason)
        .bind(6, now_seconds())
        .run();
    const int64_t vid = sqlite3_last_insert_rowid(db_);
    Stmt ch(*this,
            "INSERT INTO dataset_changes(version_id, seq, image, content_hash, action, label) "
            "VALUES (?,?,?,?,?,?)");
    for (size_t i = 0; i < changes.size(); ++i) {
      const auto& c = changes[i];
      ch.bind(1, vid).bind(2, int64_t(i)).bind(3, c.image).bind(4, c.content_hash).bind(5, c.action);
      if (c.action == "relabel")
        ch.bind(6, c.label);
      else
        ch.bind_null(6);
      ch.run();
      ch.reset();
      if (i == changes.size() / 2) test_stall_point();
    }
  });
  return version;
}

std::vector<DatasetVersionRecord> ExperimentStore::dataset_versions(const std::string& dataset_key, bool with_changes) {
  std::lock_guard lock(mutex_);
  std::vector<DatasetVersionRecord> out;
  Stmt q(*this,
         "SELECT id, version, parent, author, reason, created_at FROM dataset_versions "
         "WHERE dataset_key = ? ORDER BY version");
  q.bind(1, dataset_key);
  while (q.step()) {
    DatasetVersionRecord v;
    v.id = q.i64(0);
    v.dataset_key = dataset_key;
    v.version = q.i64(1);
    v.parent = q.i64(2);
    v.author = q.text(3);
    v.reason = q.text(4);
    v.created_at = q.f64(5);
    out.push_back(std::move(v));
  }
  if (!with_changes) return out;
  Stmt c(*this,
         "SELECT image, content_hash, action, label FROM dataset_changes WHERE version_id = ? "
         "ORDER BY seq");
  for (auto& v : out) {
    c.bind(1, v.id);
    while (c.step()) {
      ImageChange ch;
      ch.image = c.text(0);
      ch.content_hash = c.text(1);
      ch.action = c.text(2);
      ch.label = c.is_null(3) ? -1 : int(c.i64(3));
      if (!valid_action(ch.action) || (ch.action == "relabel" && ch.label < 0))
        throw StoreError(path_, "dataset version " + std::to_string(v.version) + " of '" + dataset_key +
                                    "': change of '" + ch.image + "' is not valid (corrupt or hostile row)");
      v.changes.push_back(std::move(ch));
    }
    c.reset();
  }
  return out;
}

std::optional<DatasetVersionRecord> ExperimentStore::dataset_version(const std::string& dataset_key, int64_t version) {
  for (auto& v : dataset_versions(dataset_key, true))
    if (v.version == version) return v;
  return std::nullopt;
}

int64_t ExperimentStore::latest_dataset_version(const std::string& dataset_key) {
  std::lock_guard lock(mutex_);
  Stmt q(*this, "SELECT COALESCE(MAX(version), 0) FROM dataset_versions WHERE dataset_key = ?");
  q.bind(1, dataset_key);
  q.step();
  return q.i64(0);
}

std::vector<std::string> ExperimentStore::curated_datasets() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  Stmt q(*this, "SELECT dataset_key FROM dataset_versions UNION SELECT dataset_key FROM ledgers ORDER BY 1");
  while (q.step()) out.push_back(q.text(0));
  return out;
}

void ExperimentStore::set_run_dataset_version(int64_t run_id, int64_t version) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(run_id);
    Stmt u(*this, "UPDATE runs SET dataset_version = ? WHERE id = ?");
    u.bind(1, version).bind(2, run_id).run();
  });
}

// ---- ledgers --------------------------------------------------------------------

void ExperimentStore::put_ledger(const LedgerRecord& l) {
  std::lock_guard lock(mutex_);
  write_tx([&] {
    require_run(l.run_id);
    Stmt d(*this, "DELETE FROM ledgers WHERE run_id = ?");
    d.bind(1, l.run_id).run();
    test_stall_point();  // the old ledger deleted, the new one not yet written
    Stmt ins(*this,
             "INSERT INTO ledgers(run_id, dataset_key, dataset_version, model, count, created_at, "
             "data) VALUES (?,?,?,?,?,?,?)");
    ins.bind(1, l.run_id)
        .bind(2, l.dataset_key)
        .bind(3, l.dataset_version)
        .bind(4, l.model)
        .bind(5, l.count)
        .bind(6, now_seconds())
        .bind_blob(7, l.blob)
        .run();
  });
}

namespace {
constexpr const char* kLedgerCols = "SELECT run_id, dataset_key, dataset_version, model, count, created_at";
}

LedgerRecord ExperimentStore::read_ledger_row(Stmt& q, bool with_blob) {
  LedgerRecord l;
  l.run_id = q.i64(0);
  l.dataset_key = q.text(1);
  l.dataset_version = q.i64(2);
  l.model = q.text(3);
  l.count = q.i64(4);
  l.created_at = q.f64(5);
  if (with_blob) l.blob = q.blob(6);
  return l;
}

std::optional<LedgerRecord> ExperimentStore::ledger(int64_t run_id) {
  std::lock_guard lock(mutex_);
  Stmt q(*this, (std::string(kLedgerCols) + ", data FROM ledgers WHERE run_id = ?").c_str());
  q.bind(1, run_id);
  if (!q.step()) return std::nullopt;
  return read_ledger_row(q, true);
}

std::vector<LedgerRecord> ExperimentStore::ledgers(const std::string& dataset_key, bool with_blob) {
  std::lock_guard lock(mutex_);
  std::vector<LedgerRecord> out;
  Stmt q(*this, (std::string(kLedgerCols) + (with_blob ? ", data" : "") +
                 " FROM ledgers WHERE dataset_key = ? ORDER BY run_id")
                    .c_str());
  q.bind(1, dataset_key);
  while (q.step()) out.push_back(read_ledger_row(q, with_blob));
  return out;
}

}  // namespace perceptra
