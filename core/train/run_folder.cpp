#include "core/train/run_folder.h"

#include <unistd.h>

#include <ctime>
#include <filesystem>

#include "core/tensor/error.h"

namespace fs = std::filesystem;

namespace perceptra {

std::string make_run_dir(const std::string& out_dir, int64_t run_id, const std::string& recorded) {
  if (!recorded.empty()) {
    fs::create_directories(recorded);
    return recorded;
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
