// perceptra-cli sweep: a hyper-parameter sweep, trials K at a time.
#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "core/dist/communicator.h"
#include "core/sweep/distributed.h"
#include "core/sweep/runner.h"
#include "core/tensor/device.h"
#include "core/tensor/error.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli sweep SPEC.json [--parallel K] [options]\n"
    "       perceptra-cli sweep --resume ID [--parallel K] [options]\n\n"
    "Runs a hyper-parameter sweep: every trial is a run in the experiment database\n"
    "with the sweep id, its trial index and parameter values ('perceptra-cli runs\n"
    "list --sweep ID' ranks them by the sweep's metric). SPEC.json:\n\n"
    "  {\"base\": {\"data\": \"sample\", \"model\": \"lenet5\", \"epochs\": 2},\n"
    "   \"grid\": {\"optimizer.lr\": [0.01, 0.1], \"batch_size\": [32, 64]},\n"
    "   \"random\": {\"optimizer.weight_decay\": {\"log_uniform\": [1e-5, 1e-2]}},\n"
    "   \"trials\": 4, \"metric\": \"valid_accuracy\", \"goal\": \"max\",\n"
    "   \"early_terminate\": {\"type\": \"median\", \"grace_epochs\": 1, \"min_trials\": 2},\n"
    "   \"time_budget_minutes\": 30}\n\n"
    "Parameters are TrainConfig JSON paths. Grid alone: every combination; random\n"
    "alone: 'trials' draws (uniform, log_uniform, choice); both: each grid point\n"
    "with its own 'trials' draws (grid points x trials runs). early_terminate type:\n"
    "median (median stopping rule) or asha (successive halving, 'eta').\n\n"
    "options:\n"
    "  --parallel K      trials at once (default 1); CPU threads are split between them\n"
    "  --threads N       CPU threads to split (default: all cores)\n"
    "  --resume ID       continue sweep ID: finished, failed and early-terminated trials\n"
    "                    are kept, stopped/interrupted ones continue from their checkpoint\n"
    "  --db FILE         experiment database (default $PERCEPTRA_DB or the workspace's)\n"
    "  --out DIR         run folders (default: the base config's out_dir, ./runs)\n"
    "  --device D        auto | cpu | cuda:N for every trial\n"
    "  --json            JSON lines on stdout (sweep_begin, trial_begin, trial_epoch,\n"
    "                    trial_end, sweep_end)\n"
    "  --quiet           no progress on stderr\n"
    "  --distributed     run over the ranks of an MPI job (implied under mpirun/srun)\n\n"
    "Ctrl-C stops the running trials with a checkpoint ('sweep --resume ID' finishes\n"
    "the rest). A failing trial is recorded as failed and the sweep goes on.\n"
    "Distributed (MPI): 'mpirun -np N perceptra-cli sweep SPEC.json' (or srun, or with\n"
    "--distributed): rank 0 coordinates and alone opens the database, ranks 1..N-1 run\n"
    "the trials (--parallel, --threads, --device, --out apply on each of them) and report\n"
    "to it: no shared database file. A rank that dies leaves its trial interrupted;\n"
    "'sweep --resume ID' (also under mpirun) runs unfinished trials again from the start.\n\n"
    "exit status: 0 sweep done, 1 error, 2 usage error, 130/143 stopped by Ctrl-C/SIGTERM\n";

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signal{0};
std::atomic<int> g_signals{0};

extern "C" void on_signal(int sig) {
  g_signal = sig;
  g_cancel = true;
  if (g_signals.fetch_add(1) >= 1) {  // a second one kills
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

std::string fmt_score(const nlohmann::json& v) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v.get<double>());
  return buf;
}

void print_human(const nlohmann::json& e) {
  const std::string ev = e["event"];
  if (ev == "sweep_begin") {
    std::fprintf(stderr, "%s sweep %lld (%s): %lld trials, %lld to run, %d at a time",
                 e["resumed"].get<bool>() ? "resuming" : "starting", static_cast<long long>(e["sweep_id"]),
                 e["name"].get<std::string>().c_str(), static_cast<long long>(e["trials"]),
                 static_cast<long long>(e["to_run"]), e["parallel"].get<int>());
    if (e.contains("workers")) std::fprintf(stderr, " on each of %d worker ranks", e["workers"].get<int>());
    if (e["threads_per_trial"].get<int>() > 0)
      std::fprintf(stderr, ", %d threads each", e["threads_per_trial"].get<int>());
    std::fprintf(stderr, "; ranking by %s (%s)\n", e["metric"].get<std::string>().c_str(),
                 e["goal"].get<std::string>().c_str());
  } else if (ev == "trial_begin") {
    std::fprintf(stderr, "trial %lld: run %lld %s%s\n", static_cast<long long>(e["trial"]),
                 static_cast<long long>(e["run_id"]), e["params"].dump().c_str(),
                 e["resumed"].get<bool>() ? " (resumed)" : "");
  } else if (ev == "trial_epoch") {
    std::fprintf(stderr, "trial %lld: epoch %d/%d %s %.4f\n", static_cast<long long>(e["trial"]), e["epoch"].get<int>(),
                 e["epochs"].get<int>(), e["metric"].get<std::string>().c_str(), e["value"].get<double>());
  } else if (ev == "worker_lost") {
    std::fprintf(stderr, "worker lost: %s\n", e["message"].get<std::string>().c_str());
  } else if (ev == "trial_log") {
    std::fprintf(stderr, "trial %lld: note: %s\n", static_cast<long long>(e["trial"]),
                 e["text"].get<std::string>().c_str());
  } else if (ev == "trial_end") {
    std::string msg = e["message"];
    std::fprintf(stderr, "trial %lld: %s, %s %s%s%s\n", static_cast<long long>(e["trial"]),
                 e["status"].get<std::string>().c_str(), e["metric"].get<std::string>().c_str(),
                 fmt_score(e["score"]).c_str(), msg.empty() ? "" : ": ", msg.c_str());
  } else if (ev == "sweep_end") {
    std::fprintf(stderr,
                 "sweep %lld %s: %lld/%lld trials done (%lld failed, %lld diverged, %lld "
                 "early-terminated)%s%s\n",
                 static_cast<long long>(e["sweep_id"]), e["status"].get<std::string>().c_str(),
                 static_cast<long long>(e["done"]), static_cast<long long>(e["trials"]),
                 static_cast<long long>(e["failed"]), static_cast<long long>(e["diverged"]),
                 static_cast<long long>(e["early_terminated"]), e["message"].get<std::string>().empty() ? "" : "; ",
                 e["message"].get<std::string>().c_str());
    if (e["best_run_id"].get<int64_t>() > 0)
      std::fprintf(stderr, "best: trial %lld, run %lld, %s %s\n", static_cast<long long>(e["best_trial"]),
                   static_cast<long long>(e["best_run_id"]), e["metric"].get<std::string>().c_str(),
                   fmt_score(e["best_score"]).c_str());
    std::fprintf(stderr, "ranking: perceptra-cli runs list --sweep %lld\n", static_cast<long long>(e["sweep_id"]));
  }
}

int64_t parse_id(const std::string& s) {
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size() && v > 0) return v;
  } catch (const std::exception&) {}
  throw UsageError("sweep ID must be a positive integer, got '" + s + "'");
}

void install_signals(struct sigaction& old_int, struct sigaction& old_term) {
  g_cancel = false;
  g_signals = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
}

// A rank > 0: trains what rank 0 hands out. Only errors are printed.
int run_worker(Communicator& world, const SweepOptions& o) {
  SweepWorkerOptions wo;
  wo.out_dir = o.out_dir;
  wo.parallel = o.parallel;
  wo.threads = o.threads;
  wo.device = o.device;
  wo.cancel = &g_cancel;
  struct sigaction old_int {
  }, old_term{};
  install_signals(old_int, old_term);
  try {
    run_sweep_worker(world, wo);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: error: %s\n", world.rank(), e.what());
    world.abort(1);
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return g_signal.load() ? 128 + g_signal.load() : 0;
}

int coordinate(const Args& a, const SweepOptions& o, Communicator* world);

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"parallel"},
                {"threads"},
                {"resume"},
                {"db"},
                {"out"},
                {"device"},
                {"json", false},
                {"quiet", false},
                {"distributed", false}});
  const auto& pos = a.positional();
  if (a.has("resume") && !pos.empty()) throw UsageError("give SPEC.json or --resume ID, not both");
  if (!a.has("resume") && pos.size() != 1) throw UsageError("expected one SPEC.json (or --resume ID)");
  SweepOptions o;
  o.db_path = required_database(a);
  o.out_dir = a.get_or("out", "");
  o.device = a.get_or("device", "");
  if (auto k = a.get_int("parallel")) {
    if (*k < 1 || *k > 256) throw UsageError("option '--parallel' must be in [1, 256]");
    o.parallel = static_cast<int>(*k);
  }
  if (auto n = a.get_int("threads")) {
    if (*n < 1 || *n > 1024) throw UsageError("option '--threads' must be in [1, 1024]");
    o.threads = static_cast<int>(*n);
  }
  if (!o.device.empty()) {
    try {
      DeviceRequest::parse(o.device);
    } catch (const InputError& e) {
      throw UsageError(e.what());
    }
  }
  o.cancel = &g_cancel;

  // Under an MPI launcher every rank runs this command: rank 0 coordinates,
  // the others are workers and never touch the database or the spec file.
  std::shared_ptr<Communicator> world;
  if (a.flag("distributed") && !launched_by_mpi()) {
    if (!mpi_compiled()) mpi_world();  // throws: this build has no MPI
    throw UsageError(
        "--distributed: this process was not started by an MPI launcher; run it as 'mpirun -np N "
        "perceptra-cli sweep ...' (or under srun): rank 0 coordinates, the others train");
  }
  if (launched_by_mpi()) world = mpi_world();
  if (world && world->size() < 2) {
    if (a.flag("distributed"))
      throw UsageError(
          "--distributed needs at least 2 ranks: rank 0 coordinates, the others train (e.g. mpirun -np 3)");
    world.reset();  // mpirun -np 1: an ordinary sweep
  }
  if (world && world->rank() > 0) return run_worker(*world, o);
  if (world) {
    try {
      return coordinate(a, o, world.get());
    } catch (const std::exception& e) {
      // The workers wait for work that will not come: end the job.
      std::fprintf(stderr, "error: %s\n", e.what());
      world->abort(dynamic_cast<const UsageError*>(&e) ? 2 : 1);
    }
  }
  return coordinate(a, o, nullptr);
}

int coordinate(const Args& a, const SweepOptions& o, Communicator* world) {
  const auto& pos = a.positional();
  std::optional<SweepRunner> runner;
  if (auto id = a.get("resume")) {
    runner.emplace(SweepRunner::resume(parse_id(*id), o));
  } else {
    const std::string file = pos[0];
    std::ifstream in(file);
    if (!in) throw UsageError(file + ": cannot open sweep spec");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw UsageError(file + ": not valid JSON: " + e.what());
    }
    try {
      runner.emplace(SweepSpec::from_json(j), o);
    } catch (const InputError& e) {
      throw UsageError(file + ": " + e.what());
    }
  }

  const bool json = a.flag("json"), quiet = a.flag("quiet");
  struct sigaction old_int {
  }, old_term{};
  install_signals(old_int, old_term);
  bool told = false;
  auto listener = [&](const nlohmann::json& e) {
    if (g_cancel && !told && !quiet) {
      told = true;
      std::fprintf(stderr, "stopping the running trials (again to kill)...\n");
    }
    if (json) {
      std::printf("%s\n", e.dump().c_str());
      std::fflush(stdout);
    }
    if (!quiet) print_human(e);
  };
  SweepResult r = world ? runner->run(*world, listener) : runner->run(listener);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (r.status == "stopped") {
    if (g_signal.load()) return 128 + g_signal.load();
    return world ? 1 : 128 + SIGINT;  // distributed: worker ranks were lost
  }
  return 0;
}

int run(const std::vector<std::string>& args) { return run_command("sweep", kUsage, args, body); }
Registrar reg({"sweep", "run a hyper-parameter sweep (grid, random, early termination)", run});

}  // namespace
}  // namespace perceptra::cli
