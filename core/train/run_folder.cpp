#include "core/train/run_folder.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "core/tensor/error.h"

namespace fs = std::filesystem;

namespace perceptra {

namespace {

// The name the trainer gives run `run_id`'s folder: run-<id> or run-<id>-<k>.
bool is_run_folder_name(const std::string& name, int64_t run_id) {
  const std::string base = "run-" + std::to_string(run_id);
  if (name == base) return true;
  if (name.rfind(base + "-", 0) != 0 || name.size() == base.size() + 1) return false;
  return std::all_of(name.begin() + std::ptrdiff_t(base.size()) + 1, name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string make_run_dir(const std::string& out_dir, int64_t run_id, const std::string& recorded) {
  if (!recorded.empty()) {
    // The recorded folder comes from an artifact row, and the database is a
    // file anyone can edit: a resumed run writes only into a real folder
    // (not a symlink) named for this run, never into a folder a row names.
    const fs::path p(recorded);
    std::error_code ec;
    const auto st = fs::symlink_status(p, ec);
    if (!p.is_absolute() || p.lexically_normal() != p || !is_run_folder_name(p.filename().string(), run_id))
      throw InputError(recorded, "is recorded as run " + std::to_string(run_id) + "'s folder but is not run-" +
                                     std::to_string(run_id) +
                                     " (the database may have been edited); refusing to write there");
    if (fs::is_directory(st)) return recorded;
    if (fs::exists(st))
      throw InputError(recorded, "is recorded as run " + std::to_string(run_id) +
                                     "'s folder but is not a directory (a symlink?); refusing to write there");
    // The folder is gone (its files were deleted): the run continues in a new one.
  }
  std::string base;
  if (run_id > 0) {
    base = "run-" + std::to_string(run_id);
  } else {
    char buf[64];
    std::time_t now = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
    base = std::string("run-") + buf + "-" + std::to_string(::getpid());
  }
  fs::create_directories(out_dir);
  for (int k = 1; k <= 100000; ++k) {
    fs::path p = fs::path(out_dir) / (k == 1 ? base : base + "-" + std::to_string(k));
    std::error_code ec;
    if (fs::exists(p, ec)) continue;
    // create_directory is false when someone else made it meanwhile.
    if (fs::create_directory(p, ec)) return fs::absolute(p).string();
    if (ec && !fs::exists(p)) throw InputError(p.string(), "cannot create run folder: " + ec.message());
  }
  throw InputError(out_dir, "no free run folder for '" + base + "'");
}

}  // namespace perceptra
