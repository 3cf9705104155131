// Rank 0 of a distributed sweep (distributed.h): hands out trials, records
// the workers' reports in the store (the only process that opens it) and
// decides early termination. One thread: MPI is driven from here only.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "core/dist/communicator.h"
#include "core/store/machine.h"
#include "core/sweep/distributed.h"
#include "core/sweep/sweep_book.h"
#include "core/sweep/sweep_protocol.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace proto = sweep_protocol;

struct WorkerState {
  bool alive = true;   // may still send or receive work
  bool hello = false;  // said how many trials it takes
  int slots = 0;
  std::string host;
  int64_t pid = 0;
  std::set<int64_t> trials;  // running there
  Clock::time_point last_heard = Clock::now();
};

struct InFlight {
  SweepTrial trial;
  int rank = 0;
  int64_t run_id = 0;  // 0 until the worker reported its begin
};

RunStatus run_status(const std::string& state) {
  if (state == "finished") return RunStatus::Finished;
  if (state == "diverged") return RunStatus::Diverged;
  if (state == "failed") return RunStatus::Failed;
  if (state == "interrupted") return RunStatus::Interrupted;
  return RunStatus::Stopped;  // stopped, early_terminated
}

DatasetRecord dataset_from(const json& j) {
  DatasetRecord d;
  d.name = j.value("name", "");
  d.path = j.value("path", "");
  d.kind = j.value("kind", "");
  d.fingerprint = j.value("fingerprint", "");
  d.num_classes = j.value("num_classes", 0);
  d.num_train = j.value("num_train", int64_t(0));
  d.num_valid = j.value("num_valid", int64_t(0));
  d.info = j.value("info", json::object());
  return d;
}

}  // namespace

SweepResult SweepRunner::run(Communicator& comm, const SweepListener& listener) {
  if (comm.rank() != 0) throw Error("SweepRunner::run(comm) is rank 0's; the other ranks call run_sweep_worker");
  if (comm.size() < 2)
    throw InputError("sweep", "a distributed sweep needs at least 2 ranks (rank 0 coordinates, the others train)");
  SweepBook book(spec_, options_, resume_id_, listener);
  ExperimentStore& store = book.store;
  const bool base_sets_threads = spec_.base.value("threads", 0) > 0;
  const double timeout_s = collective_timeout_seconds();
  const auto timeout = std::chrono::duration<double>(timeout_s);

  // An unfinished trial's checkpoint is on the worker that ran it (no shared
  // filesystem is assumed): it starts again from epoch 0, its partial run
  // replaced by the new one (files are left where they are).
  for (auto& p : book.pending)
    if (p.resume_run) {
      store.delete_run(*p.resume_run, false);
      p.resume_run.reset();
    }
  book.begin(options_.parallel, 0, {{"distributed", true}, {"workers", comm.size() - 1}});

  std::vector<WorkerState> workers(size_t(comm.size()));
  workers[0].alive = false;  // rank 0 trains nothing
  std::map<int64_t, InFlight> flight;
  std::deque<PendingTrial>& pending = book.pending;
  int64_t interrupted = 0;  // trials of lost workers

  // A send to a worker that died fails (or times out): it is taken for dead.
  auto lose_worker = [&](int rank, const std::string& why, bool tell = true) {
    WorkerState& w = workers[size_t(rank)];
    if (!w.alive && w.trials.empty()) return;
    w.alive = false;
    for (int64_t t : std::set<int64_t>(w.trials)) {
      InFlight f = flight.at(t);
      flight.erase(t);
      if (f.run_id > 0) {
        ++interrupted;
        store.finish_run(f.run_id, RunStatus::Interrupted, why);
        book.trial_end(f.trial, f.run_id, "interrupted", why);
      } else {
        pending.push_front({f.trial, std::nullopt});  // never began: someone else runs it
      }
    }
    w.trials.clear();
    // A worker that is only slow (not dead) must not wait for decisions
    // about trials already written off: it is told to stop and leave (it
    // then exits normally, which keeps mpirun from ending the whole job).
    if (tell) try {
        comm.send(rank, json({{"t", "stop"}}).dump());
        comm.send(rank, json({{"t", "done"}}).dump());
      } catch (const std::exception&) {  // dead indeed
      }
    book.emit({{"event", "worker_lost"}, {"sweep_id", book.sweep_id}, {"rank", rank}, {"message", why}});
  };
  auto send = [&](int rank, const json& j) {
    try {
      comm.send(rank, j.dump());
      return true;
    } catch (const CommunicationError& e) {
      lose_worker(rank, "rank " + std::to_string(rank) + " cannot be reached: " + e.what());
      return false;
    }
  };

  auto handle = [&](int src, const json& m) {
    WorkerState& w = workers[size_t(src)];
    w.last_heard = Clock::now();
    const std::string t = m["t"];
    if (t == "hello") {
      w.hello = true;
      w.slots = std::clamp(m.value("slots", 1), 1, 256);
      w.host = m.value("host", "");
      w.pid = m.value("pid", int64_t(0));
      return;
    }
    if (t == "alive") return;
    if (t == "bye") {
      lose_worker(src, "rank " + std::to_string(src) + " stopped", false);  // it has left
      return;
    }
    const int64_t trial = m.value("trial", int64_t(-1));
    auto it = flight.find(trial);
    if (it == flight.end() || it->second.rank != src) return;  // a trial already written off
    InFlight& f = it->second;
    if (t == "declined") {
      pending.push_front({f.trial, std::nullopt});
      w.trials.erase(trial);
      flight.erase(it);
    } else if (t == "begin") {
      NewRun nr;
      nr.name = book.sweep_name + "/t" + std::to_string(trial);
      nr.hparams = m.value("config", f.trial.config);
      nr.hparams.erase("db_path");  // "-" on the worker; the run is in this store
      nr.hparams["run_name"] = nr.name;
      nr.seed = nr.hparams.value("seed", uint64_t(0));
      nr.model_spec = m.value("model_spec", json::object());
      nr.machine = machine_metadata(m.value("device", std::string("none")));
      nr.machine["host"] = w.host;
      nr.machine["rank"] = src;
      if (m.contains("dataset")) nr.dataset_id = store.register_dataset(dataset_from(m["dataset"]));
      f.run_id = store.create_run(nr);
      store.set_run_trial(f.run_id, book.sweep_id, trial, f.trial.params);
      store.set_notes(f.run_id, "trained by rank " + std::to_string(src) + " on " + w.host + "; files there in " +
                                    m.value("run_dir", std::string("?")));
      book.emit({{"event", "trial_begin"},
                 {"sweep_id", book.sweep_id},
                 {"trial", trial},
                 {"run_id", f.run_id},
                 {"params", f.trial.params},
                 {"resumed", false},
                 {"start_epoch", m.value("start_epoch", 0)},
                 {"epochs", m.value("epochs", 0)},
                 {"rank", src},
                 {"host", w.host},
                 {"pid", w.pid}});
    } else if (t == "points") {
      if (f.run_id > 0) store.add_metrics(f.run_id, proto::points_from(m["points"]));
    } else if (t == "epoch") {
      if (f.run_id > 0) store.add_metrics(f.run_id, proto::points_from(m["points"]));
      const int epoch = m.value("epoch", 0), epochs = m.value("epochs", 0);
      const double value = m["value"].is_number() ? m["value"].get<double>() : NAN;
      PruneDecision d = book.pruner.report(trial, epoch, value, epochs);
      const bool stop = d.stop && epoch < epochs;
      // Marked before the worker hears it: a kill in between still leaves
      // the trial counted as done.
      if (stop && f.run_id > 0) store.mark_early_terminated(f.run_id);
      book.emit({{"event", "trial_epoch"},
                 {"sweep_id", book.sweep_id},
                 {"trial", trial},
                 {"run_id", f.run_id},
                 {"epoch", epoch},
                 {"epochs", epochs},
                 {"metric", spec_.metric},
                 {"value", value}});
      send(src, {{"t", "decision"}, {"trial", trial}, {"stop", stop}, {"reason", d.reason}});
    } else if (t == "end") {
      std::string state = m.value("status", "failed");
      const std::string message = m.value("message", "");
      if (f.run_id > 0) {
        store.finish_run(f.run_id, run_status(state), message);
      } else if (state == "failed") {
        f.run_id = book.record_failed(f.trial, message);  // failed before its run existed
      }
      SweepTrial done = f.trial;
      const int64_t run_id = f.run_id;
      w.trials.erase(trial);
      flight.erase(it);
      if (run_id > 0 || state == "failed") {
        book.trial_end(done, run_id, state, message);
      } else {
        pending.push_front({done, std::nullopt});  // stopped before it began: not run
      }
    }
  };

  const auto t0 = Clock::now();
  const bool has_budget = spec_.time_budget_minutes > 0;
  bool cancelled = false, budget_hit = false, stop_sent = false;
  std::string note;
  while (true) {
    bool progressed = false;
    if (options_.cancel && options_.cancel->load()) cancelled = true;
    if (has_budget && !budget_hit &&
        std::chrono::duration<double>(Clock::now() - t0).count() > spec_.time_budget_minutes * 60)
      budget_hit = true;
    const bool stopping = cancelled || budget_hit;
    if (stopping && !stop_sent) {
      for (int r = 1; r < comm.size(); ++r)
        if (workers[size_t(r)].alive) send(r, {{"t", "stop"}});
      stop_sent = true;
    }
    while (auto msg = comm.try_recv()) {
      progressed = true;
      if (msg->source <= 0 || msg->source >= comm.size()) continue;
      json m;
      try {
        m = proto::parse(msg->bytes, msg->source);
        handle(msg->source, m);
      } catch (const StoreError&) {
        throw;  // the store is this process's: a failure there ends the sweep
      } catch (const std::exception& e) {
        lose_worker(msg->source,
                    std::string("rank ") + std::to_string(msg->source) + " sent a bad message: " + e.what());
      }
    }
    // Hand out trials, then tell idle workers with nothing left to go.
    for (int r = 1; r < comm.size(); ++r) {
      WorkerState& w = workers[size_t(r)];
      while (w.alive && w.hello && !stopping && !pending.empty() && int(w.trials.size()) < w.slots) {
        PendingTrial p = std::move(pending.front());
        pending.pop_front();
        const int64_t idx = p.trial.index;
        flight[idx] = {p.trial, r, 0};
        w.trials.insert(idx);
        if (!send(r, {{"t", "trial"},
                      {"trial", idx},
                      {"config", p.trial.config},
                      {"params", p.trial.params},
                      {"metric", spec_.metric},
                      {"split_threads", !base_sets_threads}}))
          break;
        progressed = true;
      }
      if (w.alive && w.hello && w.trials.empty() && (pending.empty() || stopping)) {
        send(r, {{"t", "done"}});
        w.alive = false;
      }
    }
    const auto now = Clock::now();
    for (int r = 1; r < comm.size(); ++r) {
      WorkerState& w = workers[size_t(r)];
      if (w.alive && now - w.last_heard > timeout)
        lose_worker(r, "rank " + std::to_string(r) + " sent nothing for " + std::to_string(int(timeout_s)) +
                           " s (died or hangs; PERCEPTRA_DIST_TIMEOUT sets the limit)");
    }
    const bool any_alive = std::any_of(workers.begin(), workers.end(), [](const WorkerState& w) { return w.alive; });
    if (flight.empty() && !any_alive) break;
    if (!progressed) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Trials left undone because workers were lost: the sweep ends 'stopped',
  // so `sweep --resume` runs them.
  const int64_t not_started = int64_t(pending.size());
  const bool lost = !cancelled && !budget_hit && (not_started > 0 || interrupted > 0);
  if (lost)
    note = std::to_string(interrupted) + " trials interrupted and " + std::to_string(not_started) +
           " not started: worker ranks were lost; 'sweep --resume " + std::to_string(book.sweep_id) + "' runs them";
  return book.finish(cancelled || lost, budget_hit, not_started, note);
}

}  // namespace perceptra
