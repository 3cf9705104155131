#pragma once
// The experiment store: one SQLite database per workspace holding datasets,
// runs (status, timestamps, seed, model spec, hyper-parameters, machine
// metadata), their metric series and artifacts (checkpoints, model files,
// exports with checksums).
//
// Durability: WAL journal, foreign keys on, every write in one IMMEDIATE
// transaction, a busy timeout so a reader in another window never makes a
// writer fail at once. Schema versions are migrated forward on open.
//
// Crash recovery: a run records its owner (pid, process start time, host) and
// a heartbeat. On open, runs still 'running' whose owner process is gone (same
// host) or whose heartbeat is stale (other host) are marked 'interrupted';
// their last checkpoint artifact is what `resume` continues from.
//
// Threads: an ExperimentStore may be shared between threads (calls are
// serialised by a mutex), but the usual pattern is one per thread on the same
// file (the trainer writes, the GUI reads; WAL lets both proceed).
//
// Metric names the GUI/CLI summaries understand: "train_loss" (per batch or
// per epoch), "valid_loss", "valid_accuracy", "train_accuracy", "lr".
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor/error.h"

struct sqlite3;

namespace perceptra {

// "<db file>: <problem>", e.g. "/x/perceptra.db: file is not a database".
class StoreError : public Error {
 public:
  StoreError(const std::string& where, const std::string& problem)
      : Error(where + ": " + problem), where_(where), problem_(problem) {}
  const std::string& where() const { return where_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string where_, problem_;
};

enum class RunStatus { Running, Finished, Stopped, Diverged, Failed, Interrupted };
std::string to_string(RunStatus s);                   // "running", "finished", ...
RunStatus parse_run_status(const std::string& text);  // throws Error on unknown

struct DatasetRecord {
  int64_t id = 0;           // assigned by the store
  std::string name;         // "fashion-mnist", folder name, ...
  std::string path;         // where it was read from
  std::string kind;         // "idx", "cifar10", "folder", ...
  std::string fingerprint;  // any stable content hash (same data -> same id)
  int num_classes = 0;
  int64_t num_train = 0, num_valid = 0;
  nlohmann::json info = nlohmann::json::object();  // class names, stats, ...
  double created_at = 0;
};

struct NewRun {
  std::string name;  // empty: "run-<id>"
  uint64_t seed = 0;
  std::optional<int64_t> dataset_id;
  nlohmann::json model_spec = nlohmann::json::object();
  nlohmann::json hparams = nlohmann::json::object();
  nlohmann::json machine = nlohmann::json::object();  // see machine.h
  std::string notes;
  int64_t dataset_version = 0;  // the dataset version trained on (0: the files as they are)
};

struct RunRecord {
  int64_t id = 0;
  std::string name;
  RunStatus status = RunStatus::Running;
  std::string status_message;                           // why it stopped/failed/was interrupted
  double created_at = 0, started_at = 0, ended_at = 0;  // unix seconds; 0 = unset
  double heartbeat_at = 0;
  uint64_t seed = 0;
  std::optional<int64_t> dataset_id;
  nlohmann::json model_spec, hparams, machine;
  std::string notes;
  int64_t owner_pid = 0;
  std::string owner_host;
  // Sweep trials (schema 3): the sweep, the trial's index in it and the
  // parameter values it varied ({"optimizer.lr": 0.01, ...}).
  std::optional<int64_t> sweep_id;
  int64_t trial_index = -1;
  nlohmann::json trial_params = nlohmann::json::object();
  bool early_terminated = false;  // stopped by the sweep's early termination rule
  // Schema 4: the version of its dataset the run trained on (0: the files as
  // they are, no relabels or exclusions; see DatasetVersionRecord).
  int64_t dataset_version = 0;
};

// Schema 4: dataset versions (core/curate). A version is a set of per-image
// changes on top of its parent version; version 0 is the files as they are
// and has no row. Images are named by their identity (relative path for
// image folders, index for IDX/CIFAR) and the content hash they had when
// the change was made. A dataset is keyed by its resolved location.
struct ImageChange {
  std::string image;         // "cat/001.png", "123", "test:45"
  std::string content_hash;  // hex
  std::string action;        // relabel | exclude | restore
  int label = -1;            // the new class (relabel)
};

struct DatasetVersionRecord {
  int64_t id = 0;
  std::string dataset_key;  // the dataset's resolved location
  int64_t version = 0;      // 1, 2, ... per dataset
  int64_t parent = 0;       // the version it was made from (0: the files)
  std::string author, reason;
  double created_at = 0;
  std::vector<ImageChange> changes;  // empty when listed without changes
};

// Schema 4: a run's per-image ledger, a packed blob (format: core/curate/ledger.h).
struct LedgerRecord {
  int64_t run_id = 0;
  std::string dataset_key;
  int64_t dataset_version = 0;
  std::string model;  // which weights scored it: "final", "best", a path
  int64_t count = 0;  // images in the blob
  double created_at = 0;
  std::string blob;  // empty when listed without data
};

// A hyper-parameter sweep (core/sweep): its spec and state; its trials are runs.
struct SweepRecord {
  int64_t id = 0;
  std::string name;
  nlohmann::json spec = nlohmann::json::object();
  std::string status;  // running | finished | stopped | interrupted
  std::string status_message;
  double created_at = 0, ended_at = 0;
  int64_t owner_pid = 0;
  std::string owner_host;
};

// One row of list_runs(): the run plus the numbers a run table shows.
struct RunSummary {
  RunRecord run;
  std::optional<double> best_valid_accuracy;  // max of "valid_accuracy"
  std::optional<double> final_train_loss;     // last "train_loss" by step
  std::optional<double> final_valid_loss;     // last "valid_loss" by step
  int64_t epochs = 0;                         // max epoch seen in metrics
  double duration_s = 0;  // time trained ("trained_seconds"), else ended - started (running: last heartbeat)
};

struct MetricPoint {
  int64_t step = 0;  // global batch index (or epoch-end step)
  int64_t epoch = 0;
  std::string name;
  double value = 0;
};

struct MetricSeries {
  std::string name;
  std::vector<int64_t> steps, epochs;
  std::vector<double> values;
  size_t size() const { return values.size(); }
};

enum class Align { Step, Epoch };

// Several runs' series of one metric on a shared x axis (union of x values);
// values[r][i] is run r at x[i], NaN where that run has no point there.
// With Align::Epoch the last value of each epoch is used.
struct ComparedSeries {
  std::string name;
  Align align = Align::Step;
  std::vector<int64_t> run_ids;
  std::vector<int64_t> x;
  std::vector<std::vector<double>> values;
};

struct ArtifactRecord {
  int64_t id = 0;
  int64_t run_id = 0;
  std::string kind;    // checkpoint | best | last | model | onnx
  std::string path;    // absolute
  std::string sha256;  // hex of the file's bytes when recorded
  int64_t size_bytes = 0;
  double created_at = 0;
};

struct StoreOptions {
  int busy_timeout_ms = 5000;
  // A running run owned by another host is only considered dead when its
  // heartbeat is older than this (same-host runs use a pid check instead).
  double stale_heartbeat_s = 600;
  bool recover_interrupted = true;  // mark dead runs 'interrupted' on open
  // Open without write access (SQLITE_OPEN_READONLY): watching a store
  // another process writes. No recovery, no migration (an older schema is
  // a StoreError), and every write throws StoreError.
  bool read_only = false;
};

class ExperimentStore {
 public:
  static constexpr int kSchemaVersion = 4;

  // $PERCEPTRA_DB if set, else $XDG_DATA_HOME/perceptra/perceptra.db, else
  // ~/.local/share/perceptra/perceptra.db.
  // honour_env=false skips $PERCEPTRA_DB (e.g. when it says '-', no store).
  static std::string default_path(bool honour_env = true);

  // Opens (creating the file and its directories when missing) and migrates.
  // Throws StoreError naming the file: not a database, corrupt, read-only,
  // locked, newer schema than this build understands.
  explicit ExperimentStore(const std::string& path, const StoreOptions& options = {});
  ~ExperimentStore();
  ExperimentStore(const ExperimentStore&) = delete;
  ExperimentStore& operator=(const ExperimentStore&) = delete;

  const std::string& path() const { return path_; }
  int schema_version();
  std::string journal_mode();  // "wal" unless the filesystem refused it
  // Runs marked 'interrupted' by the recovery on open (ids).
  const std::vector<int64_t>& recovered_runs() const { return recovered_; }
  // Re-runs the recovery (e.g. on a timer in the GUI); returns newly marked ids.
  std::vector<int64_t> recover_interrupted();

  // Datasets: returns the id of an equal (name, path, fingerprint) record or
  // inserts a new one.
  int64_t register_dataset(const DatasetRecord& d);
  std::vector<DatasetRecord> datasets();
  std::optional<DatasetRecord> dataset(int64_t id);

  // Runs. create_run starts it 'running' and owned by this process.
  int64_t create_run(const NewRun& run);
  RunRecord run(int64_t id);  // throws StoreError when absent
  std::optional<RunRecord> find_run(int64_t id);
  void heartbeat(int64_t run_id);  // also done by add_metrics
  void finish_run(int64_t run_id, RunStatus status, const std::string& message = "");
  // Takes over an interrupted/stopped run for `resume`: running again, owned
  // by us. Checked and claimed in one transaction: throws StoreError when
  // another live process owns the run. Returns the run as it was before.
  RunRecord reopen_run(int64_t run_id);
  // Undoes reopen_run when the resume could not start: the run gets back the
  // status, message and end time reopen_run returned, plus `note`.
  void restore_run_status(const RunRecord& before, const std::string& note);
  void rename_run(int64_t run_id, const std::string& name);
  void set_notes(int64_t run_id, const std::string& notes);
  void update_hparams(int64_t run_id, const nlohmann::json& hparams);
  // Deletes the run with its metrics and artifact rows. With remove_files the
  // artifact files inside the run's own folder are deleted too (see
  // inside_run_folder; missing files are ignored, files elsewhere kept).
  // Returns the artifact paths that belonged to the run.
  std::vector<std::string> delete_run(int64_t run_id, bool remove_files = false);

  // Newest first; with a sweep id only that sweep's trials. A row that cannot
  // be read (unknown status, JSON nested too deep, ...) is skipped; bad_rows
  // (if given) receives one message per skipped row naming it, so one bad
  // row never hides the others.
  std::vector<RunSummary> list_runs(std::optional<int64_t> sweep_id = std::nullopt,
                                    std::vector<std::string>* bad_rows = nullptr);
  RunSummary run_summary(int64_t run_id);

  // Metrics: all points in one transaction (the trainer's per-batch loss).
  void add_metrics(int64_t run_id, const std::vector<MetricPoint>& points);
  void add_metric(int64_t run_id, int64_t step, int64_t epoch, const std::string& name, double value);
  std::vector<std::string> metric_names(int64_t run_id);
  MetricSeries metric_series(int64_t run_id, const std::string& name);
  ComparedSeries compare_runs(const std::vector<int64_t>& run_ids, const std::string& name, Align align = Align::Step);

  // Artifacts: the file must exist; its SHA-256 and size are recorded.
  // Recording the same (run, kind, path) again refreshes that row (a file
  // re-saved in place) and returns its id.
  int64_t add_artifact(int64_t run_id, const std::string& kind, const std::string& path);
  std::vector<ArtifactRecord> artifacts(int64_t run_id);
  // Newest artifact of a kind ("checkpoint", "last", ...), if any.
  std::optional<ArtifactRecord> latest_artifact(int64_t run_id, const std::string& kind);
  // True when the file exists and still has the recorded checksum.
  bool verify_artifact(const ArtifactRecord& a);

  // Sweeps. create_sweep starts it 'running', owned by this process; a
  // running sweep whose owner died reads as 'interrupted' (recovered on open).
  int64_t create_sweep(const std::string& name, const nlohmann::json& spec);
  std::optional<SweepRecord> find_sweep(int64_t id);
  SweepRecord sweep(int64_t id);           // throws StoreError when absent
  std::vector<SweepRecord> list_sweeps();  // newest first
  // status: finished | stopped | interrupted (| running to keep it open).
  void finish_sweep(int64_t id, const std::string& status, const std::string& message = "");
  // Takes over a stopped/interrupted sweep for `sweep --resume`; throws
  // StoreError when it is running in a live process.
  void reopen_sweep(int64_t id);
  // Makes run `run_id` trial `trial_index` of sweep `sweep_id`.
  void set_run_trial(int64_t run_id, int64_t sweep_id, int64_t trial_index, const nlohmann::json& params);
  void mark_early_terminated(int64_t run_id, bool early = true);
  // The sweep's trial runs, by trial index (then id).
  std::vector<RunRecord> sweep_runs(int64_t sweep_id);

  // Dataset versions (schema 4). add_dataset_version writes the version row
  // and all its changes in one transaction (a crash leaves it whole or
  // absent) and returns its number, one above the dataset's latest.
  // `parent` must be 0 or an existing version of the dataset.
  int64_t add_dataset_version(const std::string& dataset_key, int64_t parent, const std::vector<ImageChange>& changes,
                              const std::string& author, const std::string& reason);
  // Oldest first; with_changes fills each record's changes.
  std::vector<DatasetVersionRecord> dataset_versions(const std::string& dataset_key, bool with_changes = false);
  std::optional<DatasetVersionRecord> dataset_version(const std::string& dataset_key, int64_t version);
  int64_t latest_dataset_version(const std::string& dataset_key);  // 0 when none
  // Keys of every dataset with versions or ledgers.
  std::vector<std::string> curated_datasets();
  void set_run_dataset_version(int64_t run_id, int64_t version);

  // Ledgers (schema 4): one per run, replaced when written again.
  void put_ledger(const LedgerRecord& ledger);
  std::optional<LedgerRecord> ledger(int64_t run_id);
  // Every ledger of a dataset, oldest run first; with_blob = false leaves blobs empty.
  std::vector<LedgerRecord> ledgers(const std::string& dataset_key, bool with_blob = true);

 private:
  class Stmt;
  void open_and_migrate();
  void migrate(int from);
  void exec(const char* sql);
  [[noreturn]] void raise(int rc, const std::string& what);
  template <typename F>
  void write_tx(F&& body);
  std::vector<int64_t> recover_locked();
  void recover_sweeps_locked();
  RunRecord read_run_row(Stmt& st);
  LedgerRecord read_ledger_row(Stmt& st, bool with_blob);
  RunSummary summary_locked(const RunRecord& r);
  void require_run(int64_t run_id);

  std::string path_;
  StoreOptions options_;
  sqlite3* db_ = nullptr;
  std::recursive_mutex mutex_;
  std::vector<int64_t> recovered_;
};

// True when `path` is a regular file (not a symlink) directly inside a folder
// named run-<id> or run-<id>-<k>: the only files deleting a run may remove.
bool inside_run_folder(const std::string& path, int64_t run_id);

}  // namespace perceptra
