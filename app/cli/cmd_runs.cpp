// perceptra-cli runs list|show ID|compare ID...: the experiment store.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/runs_sweep.h"
#include "app/cli/terminal_text.h"
#include "core/store/store.h"
#include "core/tensor/bounded_json.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli runs list [--sweep ID] [--db FILE] [--json]\n"
    "       perceptra-cli runs sweeps [--db FILE] [--json]\n"
    "       perceptra-cli runs show ID [--db FILE] [--json]\n"
    "       perceptra-cli runs compare ID ID... [--metric NAME] [--db FILE] [--json]\n\n"
    "list:    every run, newest first, with status, best validation accuracy, epochs;\n"
    "         with --sweep ID that sweep's trials, best first by the sweep's metric\n"
    "sweeps:  every hyper-parameter sweep (perceptra-cli sweep)\n"
    "show:    a run's configuration, machine, per-epoch metrics and artifacts\n"
    "compare: runs side by side (summary, and a metric per epoch; default\n"
    "         valid_accuracy)\n\n"
    "Runs whose process died are shown as 'interrupted' (perceptra-cli resume ID).\n"
    "exit status: 0 ok, 1 store error or unknown run, 2 usage error\n";

std::string when(double t) {
  if (t <= 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&tt));
  return buf;
}

std::string opt(const std::optional<double>& v, const char* fmt = "%.4f") {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, fmt, *v);
  return buf;
}

// Completed epochs = validation points. (RunSummary::epochs is the highest
// 0-based epoch index seen in any metric, including a batch of an epoch in
// progress, so it is one short for a finished run.)
int64_t epochs_done(ExperimentStore& st, int64_t run_id) {
  return static_cast<int64_t>(st.metric_series(run_id, "valid_accuracy").size());
}

nlohmann::json summary_json(const RunSummary& s, int64_t epochs) {
  auto o = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"id", s.run.id},
          {"name", s.run.name},
          {"status", to_string(s.run.status)},
          {"status_message", s.run.status_message},
          {"created_at", s.run.created_at},
          {"started_at", s.run.started_at},
          {"ended_at", s.run.ended_at},
          {"seed", s.run.seed},
          {"model", field_text(s.run.model_spec, "name")},
          {"data", field_text(s.run.hparams, "data")},
          {"epochs", epochs},
          {"best_valid_accuracy", o(s.best_valid_accuracy)},
          {"final_train_loss", o(s.final_train_loss)},
          {"final_valid_loss", o(s.final_valid_loss)},
          {"duration_s", s.duration_s},
          {"sweep_id", s.run.sweep_id ? nlohmann::json(*s.run.sweep_id) : nlohmann::json(nullptr)},
          {"trial", s.run.trial_index >= 0 ? nlohmann::json(s.run.trial_index) : nlohmann::json(nullptr)},
          {"trial_params", s.run.trial_params},
          {"early_terminated", s.run.early_terminated},
          {"dataset_version", s.run.dataset_version}};
}

int64_t parse_id(const std::string& s) {
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size() && v > 0) return v;
  } catch (const std::exception&) {}
  throw UsageError("run ID must be a positive integer, got '" + s + "'");
}

int list(ExperimentStore& st, bool json) {
  std::vector<std::string> bad;
  auto runs = st.list_runs(std::nullopt, &bad);
  // A corrupt row is named and skipped; the others are still listed.
  for (const auto& b : bad) std::fprintf(stderr, "perceptra-cli runs: skipped a bad row: %s\n", printable(b).c_str());
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (auto& r : runs) j.push_back(summary_json(r, epochs_done(st, r.run.id)));
    std::printf("%s\n", dump_json_safe(j).c_str());
    return 0;
  }
  if (runs.empty()) {
    std::printf("no runs in %s\n", st.path().c_str());
    return 0;
  }
  std::printf("%5s  %-16s %-11s %-13s %-14s %6s %9s %10s %8s\n", "ID", "NAME", "STATUS", "MODEL", "DATA", "EPOCHS",
              "BEST_ACC", "VALID_LOSS", "TIME");
  for (auto& r : runs) {
    std::string data = printable(field_text(r.run.hparams, "data"));
    if (data.size() > 14) data = "..." + data.substr(data.size() - 11);
    std::printf("%5lld  %-16.16s %-11s %-13.13s %-14s %6lld %9s %10s %7.0fs\n", static_cast<long long>(r.run.id),
                printable(r.run.name).c_str(), to_string(r.run.status).c_str(),
                printable(field_text(r.run.model_spec, "name")).c_str(), data.c_str(),
                static_cast<long long>(epochs_done(st, r.run.id)), opt(r.best_valid_accuracy).c_str(),
                opt(r.final_valid_loss).c_str(), r.duration_s);
  }
  return 0;
}

int show(ExperimentStore& st, int64_t id, bool json) {
  RunSummary s = st.run_summary(id);
  auto arts = st.artifacts(id);
  std::vector<std::string> names = {"epoch_train_loss", "train_accuracy", "valid_loss", "valid_accuracy",
                                    "images_per_s"};
  if (json) {
    nlohmann::json j = summary_json(s, epochs_done(st, id));
    j["hparams"] = s.run.hparams;
    j["model_spec"] = s.run.model_spec;
    j["machine"] = s.run.machine;
    j["notes"] = s.run.notes;
    nlohmann::json m = nlohmann::json::object();
    for (auto& n : st.metric_names(id)) {
      auto ser = st.metric_series(id, n);
      m[n] = {{"steps", ser.steps}, {"epochs", ser.epochs}, {"values", ser.values}};
    }
    j["metrics"] = m;
    nlohmann::json a = nlohmann::json::array();
    for (auto& x : arts)
      a.push_back({{"kind", x.kind}, {"path", x.path}, {"sha256", x.sha256}, {"size", x.size_bytes}});
    j["artifacts"] = a;
    std::printf("%s\n", dump_json_safe(j).c_str());
    return 0;
  }
  const auto& r = s.run;
  std::printf("run %lld %s\n", static_cast<long long>(r.id), printable(r.name).c_str());
  std::printf("  status     %s%s%s\n", to_string(r.status).c_str(), r.status_message.empty() ? "" : ": ",
              printable(r.status_message).c_str());
  std::printf("  started    %s   ended %s   (%.0f s)\n", when(r.started_at).c_str(), when(r.ended_at).c_str(),
              s.duration_s);
  const std::string model_name = field_text(r.model_spec, "name");
  std::printf("  model      %s\n", model_name.empty() ? "custom" : printable(model_name).c_str());
  std::printf("  data       %s\n", printable(field_text(r.hparams, "data")).c_str());
  std::printf("  seed       %llu\n", static_cast<unsigned long long>(r.seed));
  std::printf("  machine    %s\n", printable(dump_json_safe(r.machine)).c_str());
  std::printf("  config     %s\n", printable(dump_json_safe(r.hparams)).c_str());
  std::printf("\n  %5s %10s %10s %10s %10s %10s\n", "epoch", "train_loss", "train_acc", "valid_loss", "valid_acc",
              "img/s");
  std::vector<MetricSeries> ser;
  for (auto& n : names) ser.push_back(st.metric_series(id, n));
  for (size_t i = 0; i < ser[3].size(); ++i) {
    std::printf("  %5lld", static_cast<long long>(ser[3].epochs[i] + 1));
    for (size_t j = 0; j < ser.size(); ++j) {
      const auto& m = ser[j];
      // Series line up by epoch (one point per epoch each).
      double v = NAN;
      for (size_t k = 0; k < m.size(); ++k)
        if (m.epochs[k] == ser[3].epochs[i]) v = m.values[k];
      // Losses and accuracies to 4 decimals; throughput in whole images/s.
      std::printf(names[j] == "images_per_s" ? " %10.0f" : " %10.4f", v);
    }
    std::printf("\n");
  }
  std::printf("\n  artifacts\n");
  for (auto& x : arts) std::printf("    %-10s %s\n", printable(x.kind).c_str(), printable(x.path).c_str());
  return 0;
}

int compare(ExperimentStore& st, const std::vector<int64_t>& ids, const std::string& metric, bool json) {
  ComparedSeries c = st.compare_runs(ids, metric, Align::Epoch);
  std::vector<RunSummary> sums;
  for (auto id : ids) sums.push_back(st.run_summary(id));
  if (json) {
    nlohmann::json j = {{"runs", nlohmann::json::array()}, {"metric", metric}, {"epochs", c.x}};
    for (size_t r = 0; r < ids.size(); ++r) {
      auto s = summary_json(sums[r], epochs_done(st, ids[r]));
      nlohmann::json vals = nlohmann::json::array();
      for (double v : c.values[r]) vals.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
      s["series"] = vals;
      j["runs"].push_back(s);
    }
    std::printf("%s\n", dump_json_safe(j).c_str());
    return 0;
  }
  std::printf("%-22s", "");
  for (auto id : ids) std::printf(" %12s", ("run " + std::to_string(id)).c_str());
  std::printf("\n%-22s", "status");
  for (auto& s : sums) std::printf(" %12s", to_string(s.run.status).c_str());
  std::printf("\n%-22s", "model");
  for (auto& s : sums) std::printf(" %12.12s", printable(field_text(s.run.model_spec, "name")).c_str());
  std::printf("\n%-22s", "lr");
  for (auto& s : sums) {
    double lr = 0.0;
    if (s.run.hparams.is_object() && s.run.hparams.contains("optimizer") && s.run.hparams["optimizer"].is_object() &&
        s.run.hparams["optimizer"].contains("lr") && s.run.hparams["optimizer"]["lr"].is_number())
      lr = s.run.hparams["optimizer"]["lr"].get<double>();
    std::printf(" %12.4g", lr);
  }
  std::printf("\n%-22s", "best_valid_accuracy");
  for (auto& s : sums) std::printf(" %12s", opt(s.best_valid_accuracy).c_str());
  std::printf("\n%-22s", "final_valid_loss");
  for (auto& s : sums) std::printf(" %12s", opt(s.final_valid_loss).c_str());
  std::printf("\n\n%s by epoch\n", metric.c_str());
  for (size_t i = 0; i < c.x.size(); ++i) {
    std::printf("%-22lld", static_cast<long long>(c.x[i] + 1));
    for (size_t r = 0; r < ids.size(); ++r) {
      double v = c.values[r][i];
      if (std::isfinite(v))
        std::printf(" %12.4f", v);
      else
        std::printf(" %12s", "-");
    }
    std::printf("\n");
  }
  return 0;
}

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"db"}, {"json", false}, {"metric"}, {"sweep"}});
  const auto& pos = a.positional();
  if (pos.empty()) throw UsageError("expected list, show ID or compare ID...");
  const std::string& sub = pos[0];
  bool json = a.flag("json");
  if (sub != "list" && sub != "show" && sub != "compare" && sub != "sweeps")
    throw UsageError("unknown subcommand '" + sub + "' (list, show, compare, sweeps)");
  if (a.has("sweep") && sub != "list") throw UsageError("--sweep ID goes with 'list'");
  if (sub == "sweeps" && pos.size() != 1) throw UsageError("sweeps takes no arguments");
  if (sub == "list" && pos.size() != 1) throw UsageError("list takes no arguments");
  if (sub == "show" && pos.size() != 2) throw UsageError("show takes exactly one run ID");
  if (sub == "compare" && pos.size() < 3) throw UsageError("compare needs at least two run IDs");
  std::vector<int64_t> ids;
  for (size_t i = 1; i < pos.size(); ++i) ids.push_back(parse_id(pos[i]));
  std::optional<int64_t> sweep;
  if (auto v = a.get("sweep")) {
    try {
      sweep = parse_id(*v);
    } catch (const UsageError&) {
      throw UsageError("--sweep needs a sweep ID (a positive integer), got '" + *v + "'");
    }
  }
  ExperimentStore st(required_database(a));
  if (sub == "sweeps") return list_sweeps(st, json);
  if (sub == "list" && sweep) return list_sweep_trials(st, *sweep, json);
  if (sub == "list") return list(st, json);
  if (sub == "show") return show(st, ids[0], json);
  return compare(st, ids, a.get_or("metric", "valid_accuracy"), json);
}

int run(const std::vector<std::string>& args) { return run_command("runs", kUsage, args, body); }
Registrar reg({"runs", "list, show and compare recorded runs", run});

}  // namespace
}  // namespace perceptra::cli
