#include "core/sweep/pruner.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace perceptra {

namespace {

// Linear-interpolation quantile (numpy's default), q in [0, 1].
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  double pos = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(4);
  s << v;
  return s.str();
}

}  // namespace

Pruner::Pruner(EarlyTermination rule, bool maximize) : rule_(std::move(rule)), maximize_(maximize) {}

double Pruner::best_so_far(int64_t trial, int epoch) const {
  const auto& c = curves_.at(trial);
  double best = c[0];
  for (int e = 1; e < epoch && e < static_cast<int>(c.size()); ++e)
    if (std::isfinite(c[e]) && (!std::isfinite(best) || better(c[e], best))) best = c[e];
  return best;
}

void Pruner::record(int64_t trial, int epoch, double value) {
  auto& c = curves_[trial];
  if (static_cast<int>(c.size()) < epoch) c.resize(static_cast<size_t>(epoch), NAN);
  c[static_cast<size_t>(epoch - 1)] = value;
}

PruneDecision Pruner::report(int64_t trial, int epoch, double value, int total_epochs) {
  std::lock_guard<std::mutex> lock(mu_);
  record(trial, epoch, value);
  if (rule_.type == "median") return median(trial, epoch);
  if (rule_.type == "asha") return asha(trial, epoch, total_epochs);
  return {};
}

void Pruner::replay(int64_t trial, const std::vector<double>& values, int total_epochs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t e = 0; e < values.size(); ++e) {
    record(trial, static_cast<int>(e) + 1, values[e]);
    if (rule_.type == "asha") asha(trial, static_cast<int>(e) + 1, total_epochs);
  }
}

PruneDecision Pruner::median(int64_t trial, int epoch) {
  if (epoch < rule_.grace_epochs) return {};
  std::vector<double> others;
  for (const auto& [id, c] : curves_)
    if (id != trial && static_cast<int>(c.size()) >= epoch) {
      double b = best_so_far(id, epoch);
      if (std::isfinite(b)) others.push_back(b);
    }
  if (static_cast<int>(others.size()) < rule_.min_trials) return {};
  double med = quantile(others, 0.5);
  double mine = best_so_far(trial, epoch);
  if (std::isfinite(mine) && !better(mine, med) && mine != med) {
    return {true, "median rule: " + fmt(mine) + (maximize_ ? " < " : " > ") + "median " + fmt(med) + " of " +
                      std::to_string(others.size()) + " trials at epoch " + std::to_string(epoch)};
  }
  if (!std::isfinite(mine)) return {true, "median rule: no finite metric at epoch " + std::to_string(epoch)};
  return {};
}

PruneDecision Pruner::asha(int64_t trial, int epoch, int total_epochs) {
  // Is `epoch` a rung below the trial's end?
  int64_t rung = rule_.grace_epochs;
  while (rung < epoch) rung *= rule_.eta;
  if (rung != epoch || epoch >= total_epochs) return {};
  auto& done = rungs_done_[trial];
  if (std::find(done.begin(), done.end(), epoch) != done.end()) return {};
  done.push_back(epoch);
  double mine = best_so_far(trial, epoch);
  auto& recorded = rungs_[epoch];
  PruneDecision d;
  if (!recorded.empty()) {
    double q = 1.0 / rule_.eta;
    double cutoff = quantile(recorded, maximize_ ? 1.0 - q : q);
    if (!std::isfinite(mine) || better(cutoff, mine))
      d = {true, "asha: " + fmt(mine) + " not in the best 1/" + std::to_string(rule_.eta) + " (cutoff " + fmt(cutoff) +
                     " of " + std::to_string(recorded.size()) + " trials) at epoch " + std::to_string(epoch)};
  }
  recorded.push_back(std::isfinite(mine) ? mine : (maximize_ ? -INFINITY : INFINITY));
  return d;
}

}  // namespace perceptra
