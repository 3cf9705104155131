#include "core/optim/lr_finder.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/optim/json_fields.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {
const char* kWhere = "lr_finder";
}

nlohmann::json LrFinderConfig::to_json() const {
  return {{"start_lr", start_lr},
          {"end_lr", end_lr},
          {"num_iters", num_iters},
          {"beta", beta},
          {"diverge_factor", diverge_factor}};
}

LrFinderConfig LrFinderConfig::from_json(const nlohmann::json& j) {
  using namespace optim_json;
  require_object(j, kWhere);
  reject_unknown(j, {"start_lr", "end_lr", "num_iters", "beta", "diverge_factor"}, kWhere);
  LrFinderConfig c;
  read(j, "start_lr", kWhere, c.start_lr);
  read(j, "end_lr", kWhere, c.end_lr);
  read(j, "num_iters", kWhere, c.num_iters);
  read(j, "beta", kWhere, c.beta);
  read(j, "diverge_factor", kWhere, c.diverge_factor);
  c.validate();
  return c;
}

void LrFinderConfig::validate() const {
  using optim_json::bad_field;
  if (!(start_lr > 0)) bad_field(kWhere, "start_lr", "a positive number", start_lr);
  if (!(end_lr > start_lr)) bad_field(kWhere, "end_lr", "greater than start_lr", end_lr);
  if (num_iters < 2) bad_field(kWhere, "num_iters", "at least 2", num_iters);
  if (!(beta >= 0 && beta < 1)) bad_field(kWhere, "beta", "in [0, 1)", beta);
  if (!(diverge_factor > 1)) bad_field(kWhere, "diverge_factor", "greater than 1", diverge_factor);
}

nlohmann::json LrFinderResult::to_json() const {
  nlohmann::json c = nlohmann::json::array();
  for (const auto& p : curve) c.push_back({p.lr, p.loss, p.smoothed});
  return {{"curve", c},
          {"suggested_lr", suggested_lr},
          {"steepest_lr", steepest_lr},
          {"min_loss_lr", min_loss_lr},
          {"min_div10_lr", min_div10_lr},
          {"diverged", diverged},
          {"stop_reason", stop_reason}};
}

LrFinder::LrFinder(const LrFinderConfig& config) : cfg_(config) { cfg_.validate(); }

// Geometric: the first batch uses start_lr, the last end_lr.
double LrFinder::lr_at(int i) const {
  double t = static_cast<double>(i) / static_cast<double>(cfg_.num_iters - 1);
  return cfg_.start_lr * std::pow(cfg_.end_lr / cfg_.start_lr, t);
}

double LrFinder::next_lr() {
  PCHECK(!done_, "LrFinder::next_lr called after the sweep finished");
  PCHECK(!awaiting_loss_, "LrFinder::next_lr called twice without record()");
  awaiting_loss_ = true;
  return lr_at(iter_);
}

void LrFinder::record(double loss) {
  PCHECK(awaiting_loss_, "LrFinder::record called without next_lr()");
  awaiting_loss_ = false;
  double lr = lr_at(iter_);
  ++iter_;
  if (!std::isfinite(loss)) {
    done_ = diverged_ = true;
    std::ostringstream os;
    os << "non-finite loss " << loss << " at lr " << lr;
    stop_reason_ = os.str();
    return;
  }
  avg_ = cfg_.beta * avg_ + (1 - cfg_.beta) * loss;
  double smoothed = avg_ / (1 - std::pow(cfg_.beta, iter_));
  curve_.push_back({lr, loss, smoothed});
  if (curve_.size() == 1 || smoothed < best_) best_ = smoothed;
  // Compared as a ratio of positive values: losses such as cross-entropy are
  // >= 0; a negative minimum would make "4x" meaningless, so it is not tested.
  if (curve_.size() > 1 && best_ > 0 && smoothed > cfg_.diverge_factor * best_) {
    done_ = diverged_ = true;
    std::ostringstream os;
    os << "diverged: smoothed loss " << smoothed << " > " << cfg_.diverge_factor << " x minimum " << best_ << " at lr "
       << lr;
    stop_reason_ = os.str();
  } else if (iter_ >= cfg_.num_iters) {
    done_ = true;
    stop_reason_ = "completed";
  }
}

LrFinderResult LrFinder::result() const {
  PCHECK(!curve_.empty(), "LrFinder::result: no finite loss was recorded");
  LrFinderResult r;
  r.curve = curve_;
  r.diverged = diverged_;
  r.stop_reason = done_ ? stop_reason_ : "stopped early by the caller";
  size_t n = curve_.size(), imin = 0;
  for (size_t i = 1; i < n; ++i)
    if (curve_[i].smoothed < curve_[imin].smoothed) imin = i;
  r.min_loss_lr = curve_[imin].lr;
  r.min_div10_lr = r.min_loss_lr / 10;
  // Slope of the smoothed loss against log(lr) (central differences inside,
  // one-sided at the ends, as numpy.gradient), most negative up to the minimum.
  // Slopes within rounding noise of the loss scale do not count (flat curve).
  double best_slope = -1e-9 * std::max(1e-30, std::fabs(curve_[0].smoothed));
  for (size_t i = 0; i <= imin && n >= 3; ++i) {
    size_t a = i == 0 ? 0 : i - 1, b = i + 1 < n ? i + 1 : i;
    double dx = std::log(curve_[b].lr) - std::log(curve_[a].lr);
    double slope = (curve_[b].smoothed - curve_[a].smoothed) / dx;
    if (slope < best_slope) {
      best_slope = slope;
      r.steepest_lr = curve_[i].lr;
    }
  }
  r.suggested_lr = r.steepest_lr > 0 ? r.steepest_lr : r.min_div10_lr;
  return r;
}

}  // namespace perceptra
