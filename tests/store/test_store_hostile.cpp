// A corrupt or hostile database (issue 18): bad rows are named and skipped,
// a run is claimed by one process only, deleting a run removes only files in
// its own folder, and non-UTF-8 text is stored instead of throwing.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/store/store.h"

namespace fs = std::filesystem;
using namespace perceptra;

namespace {

struct Dir {
  fs::path path;
  Dir() {
    path = fs::temp_directory_path() / ("perceptra-hostile-store-" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Dir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

void sql(const std::string& db, const std::string& text) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, text.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(h);
}

int64_t new_run(ExperimentStore& s, const std::string& name) {
  NewRun r;
  r.name = name;
  r.hparams = {{"data", "d"}};
  return s.create_run(r);
}

}  // namespace

// Item 1: a 150k-deep JSON in a runs column crashed `runs list` and the
// studio at startup; item 10: one malformed row stopped the listing.
TEST(HostileStore, BadRowsAreNamedAndSkipped) {
  Dir d;
  const std::string db = d.file("p.db");
  int64_t good, deep, status;
  {
    ExperimentStore s(db);
    good = new_run(s, "good");
    deep = new_run(s, "deep");
    status = new_run(s, "status");
    s.finish_run(good, RunStatus::Finished);
  }
  sql(db, "UPDATE runs SET hparams = '" + std::string(150000, '[') + std::string(150000, ']') +
              "' WHERE id = " + std::to_string(deep));
  // The schema's CHECK constraint stops this; another tool (or bit rot) need not.
  sql(db, "PRAGMA ignore_check_constraints = 1; UPDATE runs SET status = 'bogus' WHERE id = " + std::to_string(status));
  ExperimentStore s(db);
  std::vector<std::string> bad;
  auto runs = s.list_runs(std::nullopt, &bad);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].run.id, good);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_NE(bad[1].find("run " + std::to_string(deep) + ": column 'hparams'"), std::string::npos) << bad[1];
  EXPECT_NE(bad[0].find("run " + std::to_string(status)), std::string::npos) << bad[0];
  EXPECT_NO_THROW(s.list_runs());
  try {
    s.run(deep);
    FAIL() << "deep row read";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("nested more than"), std::string::npos) << e.what();
  }
}

// Item 3: reopen_run did not re-check the status, so two resumes both ran.
TEST(HostileStore, ARunIsClaimedByOneLiveProcessOnly) {
  Dir d;
  const std::string db = d.file("p.db");
  int64_t id;
  {
    ExperimentStore s(db);
    id = new_run(s, "r");
    s.finish_run(id, RunStatus::Interrupted, "killed");
  }
  // Several processes race to claim it; each keeps running (its claim alive)
  // for a moment, as a resumed training would.
  int ready[2], go[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; ++k) {
    pid_t pid = fork();
    if (pid == 0) {
      char c = 0;
      if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1) _exit(3);
      int code = 1;
      try {
        ExperimentStore s(db);
        s.reopen_run(id);
        code = 0;
      } catch (const StoreError&) {
        code = 1;
      }
      usleep(500 * 1000);
      _exit(code);
    }
    kids.push_back(pid);
  }
  for (size_t k = 0; k < kids.size(); ++k) {
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1);
  }
  ASSERT_EQ(write(go[1], "gggg", 4), 4);
  int claimed = 0;
  for (pid_t p : kids) {
    int st = 0;
    waitpid(p, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_NE(WEXITSTATUS(st), 3);
    claimed += WEXITSTATUS(st) == 0;
  }
  EXPECT_EQ(claimed, 1);
  // Its owner is gone now: the run can be taken over.
  ExperimentStore s(db);
  auto before = s.reopen_run(id);
  EXPECT_EQ(before.status, RunStatus::Interrupted);
  EXPECT_EQ(s.run(id).owner_pid, getpid());
}

// Item 5: "Delete run" removed every path listed in the run's artifacts.
TEST(HostileStore, DeleteRunRemovesOnlyFilesInsideItsOwnFolder) {
  Dir d;
  const std::string db = d.file("p.db");
  ExperimentStore s(db);
  int64_t id = new_run(s, "r");
  fs::create_directories(d.path / ("run-" + std::to_string(id)));
  fs::create_directories(d.path / "elsewhere");
  const std::string own = d.file("run-" + std::to_string(id) + "/last.ckpt");
  const std::string victim = d.file("elsewhere/precious.txt");
  const std::string other_run = d.file("run-999/x.pmodel");
  fs::create_directories(d.path / "run-999");
  for (auto* p : {&own, &victim, &other_run}) std::ofstream(*p) << "data";
  // Through a symlink inside the run folder.
  const std::string link = d.file("run-" + std::to_string(id) + "/link.pmodel");
  fs::create_symlink(victim, link);
  s.add_artifact(id, "checkpoint", own);
  s.add_artifact(id, "model", victim);
  s.add_artifact(id, "best", other_run);
  sql(db, "INSERT INTO artifacts(run_id, kind, path, created_at, sha256, size_bytes) VALUES (" + std::to_string(id) +
              ", 'onnx', '" + d.file("run-" + std::to_string(id) + "/../elsewhere/precious.txt") + "', 0, '', 0), (" +
              std::to_string(id) + ", 'last', '" + link + "', 0, '', 0)");
  auto paths = s.delete_run(id, true);
  EXPECT_EQ(paths.size(), 5u);
  EXPECT_FALSE(fs::exists(own));
  EXPECT_TRUE(fs::exists(victim));
  EXPECT_TRUE(fs::exists(other_run));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_TRUE(inside_run_folder(d.file("run-7-2/a.pmodel"), 7) == false);  // missing file
  std::ofstream(d.file("run-999/y")) << "y";
  EXPECT_TRUE(inside_run_folder(d.file("run-999/y"), 999));
  EXPECT_FALSE(inside_run_folder(d.file("run-999/y"), 99));
}

// Item 8: a non-UTF-8 run name or class name made storing the run throw
// ([json.exception.type_error.316]).
TEST(HostileStore, NonUtf8TextIsStoredNotThrown) {
  Dir d;
  ExperimentStore s(d.file("p.db"));
  NewRun r;
  r.name = "bad\xff\xfename";
  r.hparams = {{"run_name", "bad\xffname"}, {"data", "/tmp/\xe9t\xe9"}};
  int64_t id = 0;
  ASSERT_NO_THROW(id = s.create_run(r));
  DatasetRecord ds;
  ds.name = "folder";
  ds.info = {{"classes", {"ok", "caf\xe9"}}};
  EXPECT_NO_THROW(s.register_dataset(ds));
  EXPECT_NO_THROW(s.update_hparams(id, {{"x", "\xc3"}}));
  EXPECT_EQ(s.run(id).name, "bad\xff\xfename");
}
