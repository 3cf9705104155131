#include "core/sweep/runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <thread>

#include "core/store/machine.h"
#include "core/store/store.h"
#include "core/sweep/pruner.h"
#include "core/sweep/sweep_book.h"
#include "core/sweep/trials.h"
#include "core/tensor/error.h"
#include "core/train/trainer.h"

namespace perceptra {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// Ties a trial's run to the sweep as soon as the run exists, and applies the
// early termination rule after every epoch (on the trial's trainer thread).
class TrialHook final : public Callback {
 public:
  TrialHook(int64_t sweep_id, const SweepTrial& trial, const SweepSpec& spec, Pruner& pruner, std::string db_path)
      : sweep_id_(sweep_id), trial_(trial), spec_(spec), pruner_(pruner), db_path_(std::move(db_path)) {}

  // The RunRecorder owns the run's own writes; the sweep's marks go through
  // a connection of the hook's own, on the trial's trainer thread.
  void on_train_begin(TrainContext& ctx, const TrainBegin&) override {
    if (ctx.run_id() <= 0) return;
    store_ = std::make_unique<ExperimentStore>(db_path_);
    store_->set_run_trial(ctx.run_id(), sweep_id_, trial_.index, trial_.params);
  }

  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override {
    PruneDecision d = pruner_.report(trial_.index, e.epoch + 1, epoch_metric(e, spec_.metric), e.epochs);
    if (!d.stop || e.epoch + 1 >= e.epochs || ctx.stop_requested()) return;
    // Marked before the stop is requested: a kill in between still leaves
    // the trial counted as done, not resumed.
    if (store_) store_->mark_early_terminated(ctx.run_id());
    early_ = true;
    reason_ = d.reason;
    ctx.request_stop(EndReason::Stopped, "early-terminated (" + d.reason + ")");
  }

  // Read after the trainer finished.
  bool early() const { return early_; }
  const std::string& reason() const { return reason_; }

 private:
  int64_t sweep_id_;
  SweepTrial trial_;
  const SweepSpec& spec_;
  Pruner& pruner_;
  std::string db_path_;
  std::unique_ptr<ExperimentStore> store_;
  bool early_ = false;
  std::string reason_;
};

struct Active {
  SweepTrial trial;
  std::unique_ptr<Trainer> trainer;
  std::shared_ptr<TrialHook> hook;
  int64_t run_id = 0;
  bool resumed = false;
};

}  // namespace

std::optional<double> trial_score(const std::vector<double>& values, bool maximize) {
  std::optional<double> best;
  for (double v : values)
    if (std::isfinite(v) && (!best || (maximize ? v > *best : v < *best))) best = v;
  return best;
}

SweepRunner::SweepRunner(SweepSpec spec, SweepOptions options) : spec_(std::move(spec)), options_(std::move(options)) {
  if (options_.db_path.empty() || options_.db_path == "-")
    throw InputError("sweep", "needs an experiment database (trials are runs in it), not '-'");
  if (options_.parallel < 1 || options_.parallel > 256)
    throw InputError("sweep", "parallel must be in [1, 256], got " + std::to_string(options_.parallel));
  if (options_.threads < 0) throw InputError("sweep", "threads must be 0 (all) or positive");
}

SweepRunner SweepRunner::resume(int64_t sweep_id, SweepOptions options) {
  if (options.db_path.empty() || options.db_path == "-")
    throw InputError("sweep", "resuming needs the experiment database, not '-'");
  SweepRecord rec;
  {
    ExperimentStore store(options.db_path);
    rec = store.sweep(sweep_id);
  }
  SweepSpec spec;
  try {
    spec = SweepSpec::from_json(rec.spec);
  } catch (const InputError& e) {
    throw InputError("sweep " + std::to_string(sweep_id), std::string("recorded spec: ") + e.what());
  }
  SweepRunner r(std::move(spec), std::move(options));
  r.resume_id_ = sweep_id;
  return r;
}

int SweepRunner::threads_per_trial() const {
  int total =
      options_.threads > 0 ? options_.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, total / options_.parallel);
}

SweepResult SweepRunner::run(const SweepListener& listener) {
  SweepBook book(spec_, options_, resume_id_, listener);
  auto emit = [&](json e) { book.emit(e); };
  const int64_t sweep_id = book.sweep_id;
  const std::string sweep_name = book.sweep_name;
  const bool base_sets_threads = spec_.base.value("threads", 0) > 0;
  const int per_trial = threads_per_trial();
  const std::string metric = spec_.metric;
  Pruner& pruner = book.pruner;
  std::deque<PendingTrial>& pending = book.pending;
  book.begin(options_.parallel, base_sets_threads ? 0 : per_trial);
  auto record_failed = [&](const SweepTrial& t, const std::string& message) { return book.record_failed(t, message); };
  auto trial_end = [&](const SweepTrial& t, int64_t run_id, const std::string& state, const std::string& message) {
    book.trial_end(t, run_id, state, message);
  };
  ExperimentStore& store = book.store;

  std::vector<Active> active;
  auto launch = [&](PendingTrial p) {
    Active a;
    a.trial = p.trial;
    try {
      if (p.resume_run) {
        ResumeOptions ro;
        if (!base_sets_threads) ro.threads = per_trial;
        ro.device = options_.device;
        a.trainer = Trainer::from_run(*p.resume_run, options_.db_path, ro);
        a.run_id = *p.resume_run;
        a.resumed = true;
      } else {
        TrainConfig cfg = trial_config(p.trial);
        cfg.db_path = options_.db_path;
        if (!options_.out_dir.empty()) cfg.out_dir = options_.out_dir;
        if (!options_.device.empty()) cfg.device = options_.device;
        if (!base_sets_threads) cfg.threads = per_trial;
        cfg.run_name = sweep_name + "/t" + std::to_string(p.trial.index);
        a.trainer = std::make_unique<Trainer>(cfg);
      }
    } catch (const std::exception& e) {
      int64_t run_id = 0;
      if (p.resume_run) {
        run_id = *p.resume_run;
        store.finish_run(run_id, RunStatus::Failed, std::string("resume failed: ") + e.what());
      } else {
        run_id = record_failed(p.trial, e.what());
      }
      trial_end(p.trial, run_id, "failed", e.what());
      return;
    }
    a.hook = std::make_shared<TrialHook>(sweep_id, a.trial, spec_, pruner, options_.db_path);
    a.trainer->add_callback(a.hook);
    a.trainer->start();
    active.push_back(std::move(a));
  };

  auto handle = [&](Active& a, const TrainEvent& ev) {
    if (auto* tb = std::get_if<TrainBegin>(&ev)) {
      a.run_id = tb->run_id;
      emit({{"event", "trial_begin"},
            {"sweep_id", sweep_id},
            {"trial", a.trial.index},
            {"run_id", tb->run_id},
            {"params", a.trial.params},
            {"resumed", tb->resumed},
            {"start_epoch", tb->start_epoch},
            {"epochs", tb->epochs}});
    } else if (auto* ee = std::get_if<EpochEnd>(&ev)) {
      emit({{"event", "trial_epoch"},
            {"sweep_id", sweep_id},
            {"trial", a.trial.index},
            {"run_id", ee->run_id},
            {"epoch", ee->epoch + 1},
            {"epochs", ee->epochs},
            {"metric", metric},
            {"value", epoch_metric(*ee, metric)}});
    } else if (auto* lm = std::get_if<LogMessage>(&ev)) {
      if (lm->level == "warning")
        emit({{"event", "trial_log"},
              {"trial", a.trial.index},
              {"run_id", lm->run_id},
              {"level", lm->level},
              {"text", lm->text}});
    }
  };

  auto finish_active = [&](Active& a) {
    a.trainer->wait();
    for (auto& ev : a.trainer->events().pop_all()) handle(a, ev);
    TrainEnd end = a.trainer->result().value_or(TrainEnd{});
    int64_t run_id = end.run_id > 0 ? end.run_id : a.run_id;
    std::string state;
    if (a.hook->early()) {
      state = "early_terminated";
    } else {
      switch (end.reason) {
        case EndReason::Done:
          state = "finished";
          break;
        case EndReason::Stopped:
          state = "stopped";
          break;
        case EndReason::Diverged:
          state = "diverged";
          break;
        case EndReason::Error:
          state = "failed";
          break;
      }
    }
    // Failed before its run existed (unreadable data, bad model spec): the
    // failure is still recorded as the trial's run.
    if (run_id <= 0 && state == "failed") run_id = record_failed(a.trial, end.message);
    trial_end(a.trial, run_id, state, end.message);
  };

  const auto t0 = Clock::now();
  const bool has_budget = spec_.time_budget_minutes > 0;
  bool cancelled = false, budget_hit = false, stop_sent = false;
  int64_t not_started = 0;
  while (true) {
    if (options_.cancel && options_.cancel->load()) cancelled = true;
    if (has_budget && !budget_hit &&
        std::chrono::duration<double>(Clock::now() - t0).count() > spec_.time_budget_minutes * 60)
      budget_hit = true;
    const bool stopping = cancelled || budget_hit;
    if (stopping && !stop_sent) {
      for (auto& a : active) a.trainer->stop();
      stop_sent = true;
    }
    while (!stopping && static_cast<int>(active.size()) < options_.parallel && !pending.empty()) {
      PendingTrial p = std::move(pending.front());
      pending.pop_front();
      launch(std::move(p));
    }
    if (active.empty() && (pending.empty() || stopping)) break;
    bool progressed = false;
    for (auto it = active.begin(); it != active.end();) {
      for (auto& ev : it->trainer->events().pop_all()) {
        handle(*it, ev);
        progressed = true;
      }
      if (it->trainer->finished()) {
        finish_active(*it);
        it = active.erase(it);
        progressed = true;
      } else {
        ++it;
      }
    }
    if (!progressed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  not_started = static_cast<int64_t>(pending.size());
  return book.finish(cancelled, budget_hit, not_started);
}

}  // namespace perceptra
