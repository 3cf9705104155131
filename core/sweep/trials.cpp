#include "core/sweep/trials.h"

#include <cmath>

#include "core/sweep/json_path.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"

namespace perceptra {

namespace {

// Uniform double in [0, 1) from 53 random bits.
double unit(Rng& r) { return static_cast<double>(r.next_u64() >> 11) * 0x1.0p-53; }

nlohmann::json draw(const RandomParam& p, Rng& r, bool integer) {
  if (p.kind == RandomParam::Kind::Choice) return p.choices[r.below(p.choices.size())];
  double u = unit(r);
  double v = p.kind == RandomParam::Kind::LogUniform ? std::exp(std::log(p.lo) + u * (std::log(p.hi) - std::log(p.lo)))
                                                     : p.lo + u * (p.hi - p.lo);
  if (integer) return static_cast<int64_t>(std::llround(v));
  return v;
}

}  // namespace

SweepTrial sweep_trial(const SweepSpec& spec, int64_t index) {
  PCHECK(index >= 0 && index < spec.size(), "sweep_trial: index out of range");
  SweepTrial t;
  t.index = index;
  t.grid_index = index / spec.trials;
  t.draw = index % spec.trials;
  t.config = spec.base;
  // Grid point: mixed-radix digits of grid_index, the last path fastest.
  int64_t rest = t.grid_index;
  std::vector<size_t> digit(spec.grid.size());
  for (size_t k = spec.grid.size(); k-- > 0;) {
    auto n = static_cast<int64_t>(spec.grid[k].second.size());
    digit[k] = static_cast<size_t>(rest % n);
    rest /= n;
  }
  for (size_t k = 0; k < spec.grid.size(); ++k) {
    const auto& [path, values] = spec.grid[k];
    t.params[path] = values[digit[k]];
  }
  // Each trial its own stream: draws depend on (seed, index) only.
  Rng rng = Rng(spec.seed).fork(static_cast<uint64_t>(index));
  nlohmann::json defaults = TrainConfig::from_json(spec.base).to_json();
  for (const auto& p : spec.random) {
    auto current = json_path_get(defaults, p.path);
    bool integer = current && current->is_number_integer();
    t.params[p.path] = draw(p, rng, integer);
  }
  for (auto it = t.params.begin(); it != t.params.end(); ++it) json_path_set(t.config, it.key(), it.value());
  return t;
}

std::vector<SweepTrial> sweep_trials(const SweepSpec& spec) {
  std::vector<SweepTrial> out;
  out.reserve(static_cast<size_t>(spec.size()));
  for (int64_t i = 0; i < spec.size(); ++i) out.push_back(sweep_trial(spec, i));
  return out;
}

TrainConfig trial_config(const SweepTrial& trial) {
  try {
    return TrainConfig::from_json(trial.config);
  } catch (const InputError& e) {
    throw InputError("trial " + std::to_string(trial.index),
                     std::string(e.what()) + " (params " + trial.params.dump() + ")");
  }
}

}  // namespace perceptra
