#include "app/cli/runs_sweep.h"

#include <cstdio>
#include <string>

#include "core/store/store.h"
#include "core/sweep/ranking.h"

namespace perceptra::cli {

namespace {
std::string num(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *v);
  return buf;
}

// {"optimizer.lr":0.01,"batch_size":32} -> "optimizer.lr=0.01 batch_size=32"
std::string params_text(const nlohmann::json& p) {
  std::string s;
  for (auto it = p.begin(); it != p.end(); ++it) {
    std::string v = it.value().is_number_float() ? [&] {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.4g", it.value().get<double>());
      return std::string(buf);
    }()
                                                 : it.value().dump();
    s += (s.empty() ? "" : " ") + it.key() + "=" + v;
  }
  return s;
}
}  // namespace

int list_sweep_trials(ExperimentStore& st, int64_t sweep_id, bool json) {
  SweepRanking r = rank_sweep(st, sweep_id);
  if (json) {
    nlohmann::json trials = nlohmann::json::array();
    int rank = 0;
    for (auto& t : r.trials) {
      const auto& run = t.summary.run;
      trials.push_back({{"rank", ++rank},
                        {"id", run.id},
                        {"name", run.name},
                        {"trial", run.trial_index},
                        {"params", run.trial_params},
                        {"status", t.state},
                        {"early_terminated", run.early_terminated},
                        {"score", t.score ? nlohmann::json(*t.score) : nlohmann::json(nullptr)},
                        {"status_message", run.status_message},
                        {"duration_s", t.summary.duration_s}});
    }
    nlohmann::json j = {{"sweep_id", r.sweep.id},   {"name", r.sweep.name},
                        {"status", r.sweep.status}, {"status_message", r.sweep.status_message},
                        {"metric", r.metric},       {"goal", r.goal},
                        {"trials", trials}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("sweep %lld %s: %s%s%s; trials ranked by %s (%s)\n", static_cast<long long>(r.sweep.id),
              r.sweep.name.c_str(), r.sweep.status.c_str(), r.sweep.status_message.empty() ? "" : ": ",
              r.sweep.status_message.c_str(), r.metric.c_str(), r.goal.c_str());
  if (r.trials.empty()) {
    std::printf("no trials recorded yet\n");
    return 0;
  }
  std::printf("%4s %5s %5s  %-16s %10s %7s  %s\n", "RANK", "ID", "TRIAL", "STATUS", "SCORE", "TIME", "PARAMS");
  int rank = 0;
  for (auto& t : r.trials) {
    const auto& run = t.summary.run;
    std::printf("%4d %5lld %5lld  %-16s %10s %6.0fs  %s\n", ++rank, static_cast<long long>(run.id),
                static_cast<long long>(run.trial_index), t.state.c_str(), num(t.score).c_str(), t.summary.duration_s,
                params_text(run.trial_params).c_str());
  }
  return 0;
}

int list_sweeps(ExperimentStore& st, bool json) {
  auto sweeps = st.list_sweeps();
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (auto& s : sweeps)
      j.push_back({{"id", s.id},
                   {"name", s.name},
                   {"status", s.status},
                   {"status_message", s.status_message},
                   {"created_at", s.created_at},
                   {"trials", st.sweep_runs(s.id).size()},
                   {"spec", s.spec}});
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  if (sweeps.empty()) {
    std::printf("no sweeps in %s\n", st.path().c_str());
    return 0;
  }
  std::printf("%5s  %-20s %-12s %6s  %s\n", "ID", "NAME", "STATUS", "RUNS", "METRIC");
  for (auto& s : sweeps)
    std::printf("%5lld  %-20.20s %-12s %6zu  %s (%s)\n", static_cast<long long>(s.id), s.name.c_str(), s.status.c_str(),
                st.sweep_runs(s.id).size(), s.spec.value("metric", "").c_str(), s.spec.value("goal", "").c_str());
  return 0;
}

}  // namespace perceptra::cli
