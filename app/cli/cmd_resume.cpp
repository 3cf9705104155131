// perceptra-cli resume ID: continues an interrupted or stopped run from its
// last checkpoint, as the uninterrupted run would have gone on.
#include <cstdio>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/train_options.h"
#include "core/store/store.h"
#include "core/tensor/error.h"
#include "core/train/prepared_run.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli resume ID [--db FILE] [--epochs N] [--lr X] [--device D]\n"
    "                               [--threads N] [--distributed [--sync-bn]] [--force] [--json] [--quiet]\n\n"
    "Continues run ID (interrupted, stopped, diverged or failed) from its last\n"
    "checkpoint with the run's recorded configuration. --epochs changes the total\n"
    "number of epochs (needed to continue a finished run); --lr a new learning rate\n"
    "(e.g. after 'diverged', which resumes from the last good checkpoint).\n"
    "--distributed continues it data-parallel under 'mpirun -np N' (rank 0 reads\n"
    "the database and sends the checkpoint to the other ranks).\n"
    "--force continues even when the projected peak memory exceeds the limit\n"
    "(see 'train --dry-run').\n\n"
    "exit status: 0 done, 1 failed or diverged, 2 usage error, 130/143 stopped by\n"
    "Ctrl-C/SIGTERM (checkpoint saved)\n";

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"db"},
                {"epochs"},
                {"lr"},
                {"device"},
                {"threads"},
                {"json", false},
                {"quiet", false},
                {"distributed", false},
                {"sync-bn", false},
                {"force", false}});
  if (a.positional().size() != 1) throw UsageError("expected exactly one run ID");
  long long id = 0;
  try {
    size_t used = 0;
    id = std::stoll(a.positional()[0], &used);
    if (used != a.positional()[0].size() || id <= 0) throw std::invalid_argument("id");
  } catch (const std::exception&) {
    throw UsageError("run ID must be a positive integer, got '" + a.positional()[0] + "'");
  }
  ResumeOptions ro;
  if (auto e = a.get_int("epochs")) ro.epochs = static_cast<int>(*e);
  if (auto l = a.get_double("lr")) ro.lr = static_cast<float>(*l);
  ro.device = a.get_or("device", "");
  if (auto t = a.get_int("threads")) ro.threads = static_cast<int>(*t);
  std::string db = required_database(a);
  const RunOutput out{a.flag("json"), a.flag("quiet")};
  if (a.flag("distributed")) {
    // Rank 0 alone reads the store; the others get the configuration and
    // the checkpoint from it (prepare_distributed).
    return prepare_and_follow_distributed(
        [&] {
          PrepareOptions po;
          po.force = a.flag("force");
          return prepare_resume(resume_request(id, db, ro), po);
        },
        ro.device.empty() ? "auto" : ro.device, ro.threads, out, a.flag("sync-bn"));
  }
  if (a.flag("sync-bn")) throw UsageError("--sync-bn needs --distributed");
  ResumeRequest request;
  try {
    request = resume_request(id, db, ro);
  } catch (const InputError& e) {
    // Bad overrides (--epochs 0, --lr -1) are usage errors; an unknown or
    // running run is a runtime failure.
    if (e.where() == "config" || e.where() == "optimizer") throw UsageError(e.what());
    throw;
  }
  PrepareOptions po;
  po.force = a.flag("force");
  return prepare_and_follow([&] { return prepare_resume(request, po); }, out);
}

int run(const std::vector<std::string>& args) { return run_command("resume", kUsage, args, body); }
Registrar reg({"resume", "continue an interrupted run from its last checkpoint", run});

}  // namespace
}  // namespace perceptra::cli
