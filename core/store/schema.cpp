// Schema history. Each entry upgrades version i to i+1 (entry 0 creates v1);
// a new database runs them all, so the v1 -> current path is exercised on
// every fresh workspace, not only on old files. Never edit a shipped entry:
// append a new one and bump ExperimentStore::kSchemaVersion.
#include "core/store/schema.h"

namespace perceptra::store_schema {

const std::vector<const char*>& migrations() {
  static const std::vector<const char*> m = {
      // 0 -> 1: the first schema.
      R"sql(
CREATE TABLE schema_version(
  version INTEGER NOT NULL,
  applied_at REAL NOT NULL);
CREATE TABLE datasets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  path TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT '',
  fingerprint TEXT NOT NULL DEFAULT '',
  num_classes INTEGER NOT NULL DEFAULT 0,
  num_train INTEGER NOT NULL DEFAULT 0,
  num_valid INTEGER NOT NULL DEFAULT 0,
  info TEXT NOT NULL DEFAULT '{}',
  created_at REAL NOT NULL);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  status TEXT NOT NULL CHECK(status IN
    ('running','finished','stopped','diverged','failed','interrupted')),
  created_at REAL NOT NULL,
  started_at REAL,
  ended_at REAL,
  seed INTEGER NOT NULL DEFAULT 0,
  dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
  model_spec TEXT NOT NULL DEFAULT '{}',
  hparams TEXT NOT NULL DEFAULT '{}',
  machine TEXT NOT NULL DEFAULT '{}',
  owner_pid INTEGER NOT NULL DEFAULT 0);
CREATE TABLE metrics(
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL);
CREATE INDEX metrics_run_name ON metrics(run_id, name, step);
CREATE TABLE artifacts(
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  created_at REAL NOT NULL);
)sql",
      // 1 -> 2: run ownership + heartbeat (interrupted-run detection without
      // pid reuse mistakes), status messages and notes, artifact checksums.
      R"sql(
ALTER TABLE runs ADD COLUMN status_message TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN owner_host TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN owner_token TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN heartbeat_at REAL;
UPDATE runs SET heartbeat_at = COALESCE(ended_at, started_at, created_at);
ALTER TABLE artifacts ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE artifacts ADD COLUMN size_bytes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX artifacts_run ON artifacts(run_id, kind, created_at);
CREATE INDEX runs_status ON runs(status);
)sql",
      // 2 -> 3: hyper-parameter sweeps. A sweep row holds its spec; its trials
      // are ordinary runs pointing at it with their trial index and parameter
      // values. early_terminated marks a trial stopped by the sweep's early
      // termination rule (status 'stopped': it is not resumed as unfinished).
      R"sql(
CREATE TABLE sweeps(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL DEFAULT '',
  spec TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL CHECK(status IN ('running','finished','stopped','interrupted')),
  status_message TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  ended_at REAL,
  owner_pid INTEGER NOT NULL DEFAULT 0,
  owner_host TEXT NOT NULL DEFAULT '',
  owner_token TEXT NOT NULL DEFAULT '');
ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps(id) ON DELETE SET NULL;
ALTER TABLE runs ADD COLUMN trial_index INTEGER;
ALTER TABLE runs ADD COLUMN trial_params TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN early_terminated INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_sweep ON runs(sweep_id, trial_index);
)sql",
      // 3 -> 4: dataset versions and per-image ledgers (core/curate). A
      // version row and its changes are written in one transaction; a
      // ledger is one packed blob per run (tens of thousands of images in
      // one row: fast to write, read whole). Runs record the version they
      // trained on (0: the files as they are).
      R"sql(
CREATE TABLE dataset_versions(
  id INTEGER PRIMARY KEY,
  dataset_key TEXT NOT NULL,
  version INTEGER NOT NULL CHECK(version > 0),
  parent INTEGER NOT NULL DEFAULT 0,
  author TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  UNIQUE(dataset_key, version));
CREATE TABLE dataset_changes(
  version_id INTEGER NOT NULL REFERENCES dataset_versions(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  image TEXT NOT NULL,
  content_hash TEXT NOT NULL DEFAULT '',
  action TEXT NOT NULL CHECK(action IN ('relabel','exclude','restore')),
  label INTEGER,
  PRIMARY KEY(version_id, seq));
CREATE TABLE ledgers(
  run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  dataset_key TEXT NOT NULL,
  dataset_version INTEGER NOT NULL DEFAULT 0,
  model TEXT NOT NULL DEFAULT '',
  count INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL,
  data BLOB NOT NULL);
CREATE INDEX ledgers_dataset ON ledgers(dataset_key, run_id);
ALTER TABLE runs ADD COLUMN dataset_version INTEGER NOT NULL DEFAULT 0;
)sql",
  };
  return m;
}

}  // namespace perceptra::store_schema
