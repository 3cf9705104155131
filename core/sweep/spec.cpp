#include "core/sweep/spec.h"

#include <cmath>
#include <sstream>

#include "core/sweep/json_path.h"
#include "core/tensor/error.h"
#include "core/train/config.h"

namespace perceptra {

namespace {

using nlohmann::json;
const char* kWhere = "sweep";

[[noreturn]] void bad(const std::string& field, const std::string& problem) {
  throw InputError(kWhere, "field '" + field + "' " + problem);
}

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Fields the sweep itself decides: varying them would mix trials' files.
bool reserved_path(const std::string& path) { return path == "db_path" || path == "out_dir" || path == "run_name"; }

void check_path(const json& base_full, const std::string& section, const std::string& path) {
  const std::string field = section + "." + path;
  if (path.empty()) bad(field, "is not a TrainConfig JSON path");
  if (reserved_path(path)) bad(field, "cannot be swept (the sweep sets it for every trial)");
  if (!json_path_get(base_full, path))
    bad(field,
        "is not a TrainConfig field (paths look like 'optimizer.lr', 'batch_size', "
        "'augment.hflip')");
}

double read_number(const json& v, const std::string& field) {
  if (!v.is_number()) bad(field, "must be a number, got " + v.dump());
  double d = v.get<double>();
  if (!std::isfinite(d)) bad(field, "must be finite");
  return d;
}

RandomParam parse_random(const std::string& path, const json& d, const std::string& field) {
  if (!d.is_object() || d.size() != 1)
    bad(field,
        "must be one of {\"uniform\": [LO, HI]}, {\"log_uniform\": [LO, HI]} or "
        "{\"choice\": [V, ...]}, got " +
            d.dump());
  RandomParam p;
  p.path = path;
  const std::string kind = d.begin().key();
  const json& v = d.begin().value();
  if (kind == "choice") {
    p.kind = RandomParam::Kind::Choice;
    if (!v.is_array() || v.empty()) bad(field + ".choice", "must be a non-empty array");
    if (v.size() > 1000) bad(field + ".choice", "has more than 1000 values");
    p.choices.assign(v.begin(), v.end());
    return p;
  }
  if (kind == "uniform")
    p.kind = RandomParam::Kind::Uniform;
  else if (kind == "log_uniform")
    p.kind = RandomParam::Kind::LogUniform;
  else
    bad(field, "has unknown distribution '" + kind + "' (uniform, log_uniform, choice)");
  const std::string f = field + "." + kind;
  if (!v.is_array() || v.size() != 2) bad(f, "must be [LO, HI], got " + v.dump());
  p.lo = read_number(v[0], f + "[0]");
  p.hi = read_number(v[1], f + "[1]");
  if (!(p.lo <= p.hi)) bad(f, "needs LO <= HI, got [" + num(p.lo) + ", " + num(p.hi) + "]");
  if (p.kind == RandomParam::Kind::LogUniform && !(p.lo > 0)) bad(f, "needs LO > 0 (a log scale), got " + num(p.lo));
  return p;
}

json random_to_json(const RandomParam& p) {
  switch (p.kind) {
    case RandomParam::Kind::Choice:
      return {{"choice", p.choices}};
    case RandomParam::Kind::LogUniform:
      return {{"log_uniform", {p.lo, p.hi}}};
    case RandomParam::Kind::Uniform:
      break;
  }
  return {{"uniform", {p.lo, p.hi}}};
}

}  // namespace

const std::vector<std::string>& sweep_metrics() {
  static const std::vector<std::string> m = {"valid_accuracy",   "valid_loss", "train_accuracy",
                                             "epoch_train_loss", "error_rate", "top_k_accuracy"};
  return m;
}

int64_t SweepSpec::grid_points() const {
  int64_t n = 1;
  for (auto& [path, values] : grid) n *= static_cast<int64_t>(values.size());
  return n;
}

SweepSpec SweepSpec::from_json(const json& j) {
  if (!j.is_object()) throw InputError(kWhere, "expected a JSON object, got " + std::string(j.type_name()));
  static const char* known[] = {
      "base", "grid", "random", "trials", "metric", "goal", "seed", "early_terminate", "time_budget_minutes", "name"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok)
      throw InputError(kWhere, "unknown field '" + it.key() +
                                   "' (known: base, grid, random, trials, metric, goal, seed, "
                                   "early_terminate, time_budget_minutes, name)");
  }
  SweepSpec s;
  if (!j.contains("base")) throw InputError(kWhere, "field 'base' (a TrainConfig) is required");
  if (!j["base"].is_object()) bad("base", "must be a TrainConfig object");
  s.base = j["base"];
  json base_full;
  try {
    base_full = TrainConfig::from_json(s.base).to_json();
  } catch (const InputError& e) {
    throw InputError("sweep.base", e.what());
  }

  if (j.contains("grid")) {
    const json& g = j["grid"];
    if (!g.is_object()) bad("grid", "must be an object of PATH: [values]");
    for (auto it = g.begin(); it != g.end(); ++it) {
      const std::string field = "grid." + it.key();
      check_path(base_full, "grid", it.key());
      if (!it.value().is_array() || it.value().empty()) bad(field, "must be a non-empty array of values");
      if (it.value().size() > 1000) bad(field, "has more than 1000 values");
      s.grid.emplace_back(it.key(), std::vector<json>(it.value().begin(), it.value().end()));
    }
  }
  if (j.contains("random")) {
    const json& r = j["random"];
    if (!r.is_object()) bad("random", "must be an object of PATH: {distribution}");
    for (auto it = r.begin(); it != r.end(); ++it) {
      const std::string field = "random." + it.key();
      check_path(base_full, "random", it.key());
      for (auto& [gp, gv] : s.grid)
        if (gp == it.key()) bad(field, "is also in 'grid'; vary a parameter one way");
      s.random.push_back(parse_random(it.key(), it.value(), field));
    }
  }
  if (s.grid.empty() && s.random.empty())
    throw InputError(kWhere, "nothing to vary: give 'grid' and/or 'random' parameters");
  if (j.contains("trials")) {
    if (!j["trials"].is_number_integer()) bad("trials", "must be an integer, got " + j["trials"].dump());
    s.trials = j["trials"].get<int>();
    if (s.trials < 1) bad("trials", "must be at least 1, got " + std::to_string(s.trials));
    if (s.random.empty() && s.trials != 1)
      bad("trials",
          "counts random draws; it needs a 'random' section (a grid runs every "
          "combination once)");
  } else if (!s.random.empty()) {
    bad("trials", "is required with 'random' (number of draws per grid point)");
  }
  // Grid points x trials, checked without overflow.
  {
    int64_t n = s.trials;
    for (auto& [path, values] : s.grid) {
      n *= static_cast<int64_t>(values.size());
      if (n > kMaxSweepTrials) break;
    }
    if (n > kMaxSweepTrials)
      throw InputError(
          kWhere, "more than " + std::to_string(kMaxSweepTrials) + " trials (grid points x trials); narrow the sweep");
  }

  if (j.contains("metric")) {
    if (!j["metric"].is_string()) bad("metric", "must be a string");
    s.metric = j["metric"].get<std::string>();
    bool ok = false;
    for (auto& m : sweep_metrics()) ok = ok || m == s.metric;
    if (!ok) {
      std::string list;
      for (auto& m : sweep_metrics()) list += (list.empty() ? "" : ", ") + m;
      bad("metric", "must be one of " + list + ", got '" + s.metric + "'");
    }
  }
  bool lower_better = s.metric == "valid_loss" || s.metric == "epoch_train_loss" || s.metric == "error_rate";
  s.goal = lower_better ? "min" : "max";
  if (j.contains("goal")) {
    if (!j["goal"].is_string() || (j["goal"] != "max" && j["goal"] != "min"))
      bad("goal", "must be \"max\" or \"min\", got " + j["goal"].dump());
    s.goal = j["goal"].get<std::string>();
  }
  if (j.contains("seed")) {
    const json& sd = j["seed"];
    if (!sd.is_number_unsigned() && !(sd.is_number_integer() && sd.get<int64_t>() >= 0))
      bad("seed", "must be a non-negative integer, got " + j["seed"].dump());
    s.seed = j["seed"].get<uint64_t>();
  }
  if (j.contains("early_terminate")) {
    const json& e = j["early_terminate"];
    if (!e.is_object()) bad("early_terminate", "must be an object like {\"type\": \"median\"}");
    for (auto it = e.begin(); it != e.end(); ++it)
      if (it.key() != "type" && it.key() != "grace_epochs" && it.key() != "min_trials" && it.key() != "eta")
        bad("early_terminate." + it.key(), "is unknown (type, grace_epochs, min_trials, eta)");
    auto& et = s.early_terminate;
    if (e.contains("type")) {
      if (!e["type"].is_string()) bad("early_terminate.type", "must be a string");
      et.type = e["type"].get<std::string>();
    }
    if (et.type != "none" && et.type != "median" && et.type != "asha")
      bad("early_terminate.type", "must be none, median or asha, got '" + et.type + "'");
    auto read_int = [&](const char* key, int& out, int lo, int hi) {
      if (!e.contains(key)) return;
      std::string f = std::string("early_terminate.") + key;
      if (!e[key].is_number_integer()) bad(f, "must be an integer, got " + e[key].dump());
      out = e[key].get<int>();
      if (out < lo || out > hi)
        bad(f, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(out));
    };
    read_int("grace_epochs", et.grace_epochs, 1, 100000);
    read_int("min_trials", et.min_trials, 1, 100000);
    read_int("eta", et.eta, 2, 100);
  }
  if (j.contains("time_budget_minutes")) {
    s.time_budget_minutes = read_number(j["time_budget_minutes"], "time_budget_minutes");
    if (!(s.time_budget_minutes > 0)) bad("time_budget_minutes", "must be positive, got " + num(s.time_budget_minutes));
  }
  if (j.contains("name")) {
    if (!j["name"].is_string()) bad("name", "must be a string");
    s.name = j["name"].get<std::string>();
  }
  return s;
}

json SweepSpec::to_json() const {
  json g = json::object(), r = json::object();
  for (auto& [path, values] : grid) g[path] = values;
  for (auto& p : random) r[p.path] = random_to_json(p);
  json j = {{"base", base},
            {"metric", metric},
            {"goal", goal},
            {"seed", seed},
            {"name", name},
            {"early_terminate",
             {{"type", early_terminate.type},
              {"grace_epochs", early_terminate.grace_epochs},
              {"min_trials", early_terminate.min_trials},
              {"eta", early_terminate.eta}}}};
  if (!grid.empty()) j["grid"] = g;
  if (!random.empty()) {
    j["random"] = r;
    j["trials"] = trials;
  }
  if (time_budget_minutes > 0) j["time_budget_minutes"] = time_budget_minutes;
  return j;
}

}  // namespace perceptra
