#pragma once
// Internal to core/store: the prepared-statement wrapper and the write
// transaction shared by the store's source files (store.cpp for runs,
// metrics, artifacts and sweeps; curation.cpp for dataset versions and
// ledgers). Not part of the store's public interface.
#include <sqlite3.h>

#include <optional>
#include <string>

#include "core/store/store.h"

namespace perceptra {

class ExperimentStore::Stmt {
 public:
  Stmt(ExperimentStore& store, const char* sql) : store_(store) {
    int rc = sqlite3_prepare_v2(store.db_, sql, -1, &st_, nullptr);
    if (rc != SQLITE_OK) store.raise(rc, "preparing a query");
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v) { return check(sqlite3_bind_int64(st_, i, v)); }
  Stmt& bind(int i, int v) { return bind(i, int64_t(v)); }
  Stmt& bind(int i, double v) { return check(sqlite3_bind_double(st_, i, v)); }
  Stmt& bind(int i, const std::string& v) {
    return check(sqlite3_bind_text(st_, i, v.data(), int(v.size()), SQLITE_TRANSIENT));
  }
  Stmt& bind_blob(int i, const std::string& v) {
    return check(sqlite3_bind_blob64(st_, i, v.data(), sqlite3_uint64(v.size()), SQLITE_TRANSIENT));
  }
  Stmt& bind_null(int i) { return check(sqlite3_bind_null(st_, i)); }
  Stmt& bind_opt(int i, const std::optional<int64_t>& v) { return v ? bind(i, *v) : bind_null(i); }
  Stmt& bind_time(int i, double t) { return t > 0 ? bind(i, t) : bind_null(i); }

  // True while a row is available.
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    store_.raise(rc, "running a query");
  }
  void run() {
    while (step()) {}
  }
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }

  bool is_null(int c) { return sqlite3_column_type(st_, c) == SQLITE_NULL; }
  int64_t i64(int c) { return sqlite3_column_int64(st_, c); }
  double f64(int c) { return is_null(c) ? 0.0 : sqlite3_column_double(st_, c); }
  std::optional<double> opt_f64(int c) {
    return is_null(c) ? std::nullopt : std::optional<double>(sqlite3_column_double(st_, c));
  }
  std::string text(int c) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(st_, c));
    return p ? std::string(p) : std::string();
  }
  std::string blob(int c) {
    const void* p = sqlite3_column_blob(st_, c);
    const int n = sqlite3_column_bytes(st_, c);
    return p && n > 0 ? std::string(static_cast<const char*>(p), size_t(n)) : std::string();
  }
  const char* ctext(int c) { return reinterpret_cast<const char*>(sqlite3_column_text(st_, c)); }

 private:
  Stmt& check(int rc) {
    if (rc != SQLITE_OK) store_.raise(rc, "binding a query parameter");
    return *this;
  }
  ExperimentStore& store_;
  sqlite3_stmt* st_ = nullptr;
};

template <typename F>
void ExperimentStore::write_tx(F&& body) {
  exec("BEGIN IMMEDIATE");
  try {
    body();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace perceptra
