#include "core/sweep/sweep_book.h"

#include <cmath>
#include <map>

#include "core/store/machine.h"
#include "core/sweep/ranking.h"

namespace perceptra {

using nlohmann::json;

namespace {

json opt_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Finished, failed, diverged and early-terminated trials are not run again.
bool trial_done(const RunRecord& r) {
  return r.early_terminated || r.status == RunStatus::Finished || r.status == RunStatus::Failed ||
         r.status == RunStatus::Diverged;
}

}  // namespace

double epoch_metric(const EpochEnd& e, const std::string& metric) {
  if (metric == "valid_accuracy") return e.valid_accuracy;
  if (metric == "valid_loss") return e.valid_loss;
  if (metric == "train_accuracy") return e.train_accuracy;
  if (metric == "epoch_train_loss") return e.train_loss;
  if (metric == "error_rate") return e.error_rate;
  if (metric == "top_k_accuracy") return e.top_k_accuracy;
  return NAN;
}

std::vector<MetricPoint> epoch_points(const EpochEnd& e) {
  std::vector<MetricPoint> out;
  auto add = [&](const char* name, double v) {
    if (std::isfinite(v)) out.push_back({e.step, e.epoch, name, v});
  };
  add("epoch_train_loss", e.train_loss);
  add("train_accuracy", e.train_accuracy);
  add("valid_loss", e.valid_loss);
  add("valid_accuracy", e.valid_accuracy);
  add("error_rate", e.error_rate);
  add("top_k_accuracy", e.top_k_accuracy);
  add("images_per_s", e.images_per_s);
  add("epoch_seconds", e.seconds);
  return out;
}

SweepBook::SweepBook(const SweepSpec& spec_, const SweepOptions& options, int64_t resume_id,
                     const SweepListener& listener)
    : store(options.db_path),
      spec(spec_),
      pruner(spec_.early_terminate, spec_.maximize()),
      listener_(listener),
      resumed_(resume_id > 0) {
  res_.trials = spec.size();
  if (resume_id > 0) {
    store.reopen_sweep(resume_id);
    sweep_id = resume_id;
  } else {
    sweep_id = store.create_sweep(spec.name, spec.to_json());
  }
  res_.sweep_id = sweep_id;
  sweep_name = store.sweep(sweep_id).name;

  // What already ran (a resumed sweep): the latest run of each trial index.
  std::map<int64_t, RunRecord> existing;
  for (auto& r : store.sweep_runs(sweep_id))
    if (r.trial_index >= 0) existing[r.trial_index] = r;
  for (auto& t : sweep_trials(spec)) {
    auto it = existing.find(t.index);
    if (it == existing.end()) {
      pending.push_back({t, std::nullopt});
      continue;
    }
    const RunRecord& r = it->second;
    auto values = store.metric_series(r.id, spec.metric).values;
    int total_epochs = r.hparams.value("epochs", 0);
    pruner.replay(t.index, values, total_epochs);
    if (trial_done(r)) {
      ++already;
      ++res_.done;
      res_.failed += r.status == RunStatus::Failed;
      res_.diverged += r.status == RunStatus::Diverged;
      res_.early_terminated += r.early_terminated;
    } else if (r.status == RunStatus::Running) {
      ++res_.unfinished;  // owned by a live process elsewhere: left alone
    } else {
      pending.push_back({t, r.id});
    }
  }
}

void SweepBook::emit(const json& e) const {
  if (listener_) listener_(e);
}

void SweepBook::begin(int parallel, int threads_per_trial, const json& extra) {
  json e = {{"event", "sweep_begin"},  {"sweep_id", sweep_id},
            {"name", sweep_name},      {"trials", res_.trials},
            {"already_done", already}, {"to_run", pending.size()},
            {"parallel", parallel},    {"threads_per_trial", threads_per_trial},
            {"metric", spec.metric},   {"goal", spec.goal},
            {"resumed", resumed_}};
  for (auto& [k, v] : extra.items()) e[k] = v;
  emit(e);
}

int64_t SweepBook::record_failed(const SweepTrial& t, const std::string& message) {
  NewRun nr;
  nr.name = sweep_name + "/t" + std::to_string(t.index);
  nr.hparams = t.config;
  nr.seed = t.config.value("seed", uint64_t(0));
  nr.machine = machine_metadata();
  int64_t run_id = store.create_run(nr);
  store.set_run_trial(run_id, sweep_id, t.index, t.params);
  store.finish_run(run_id, RunStatus::Failed, message);
  return run_id;
}

void SweepBook::trial_end(const SweepTrial& t, int64_t run_id, const std::string& state, const std::string& message) {
  std::optional<double> score;
  if (run_id > 0) score = trial_score(store.metric_series(run_id, spec.metric).values, spec.maximize());
  bool done = state == "finished" || state == "failed" || state == "diverged" || state == "early_terminated";
  res_.done += done;
  res_.failed += state == "failed";
  res_.diverged += state == "diverged";
  res_.early_terminated += state == "early_terminated";
  res_.unfinished += !done;
  emit({{"event", "trial_end"},
        {"sweep_id", sweep_id},
        {"trial", t.index},
        {"run_id", run_id},
        {"params", t.params},
        {"status", state},
        {"early_terminated", state == "early_terminated"},
        {"metric", spec.metric},
        {"score", opt_json(score)},
        {"message", message}});
}

SweepResult SweepBook::finish(bool cancelled, bool budget_hit, int64_t not_started, const std::string& note) {
  SweepResult& res = res_;
  res.unfinished += not_started;
  if (cancelled) {
    res.status = "stopped";
    res.message = note.empty() ? "stopped by user" : note;
  } else {
    res.status = "finished";
    if (budget_hit)
      res.message = "time budget of " + std::to_string(spec.time_budget_minutes) + " minutes reached; " +
                    std::to_string(res.unfinished) + " trials unfinished";
  }
  store.finish_sweep(sweep_id, res.status, res.message);

  SweepRanking rank = rank_sweep(store, sweep_id);
  if (!rank.trials.empty() && rank.trials.front().score) {
    res.best_run_id = rank.trials.front().summary.run.id;
    res.best_trial = rank.trials.front().summary.run.trial_index;
    res.best_score = rank.trials.front().score;
  }
  emit({{"event", "sweep_end"},
        {"sweep_id", sweep_id},
        {"status", res.status},
        {"message", res.message},
        {"trials", res.trials},
        {"done", res.done},
        {"failed", res.failed},
        {"diverged", res.diverged},
        {"early_terminated", res.early_terminated},
        {"unfinished", res.unfinished},
        {"best_trial", res.best_trial},
        {"best_run_id", res.best_run_id},
        {"best_score", opt_json(res.best_score)},
        {"metric", spec.metric}});
  return res;
}

}  // namespace perceptra
