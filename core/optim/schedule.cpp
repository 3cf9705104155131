#include "core/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/optim/json_fields.h"
#include "core/optim/optimizer.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

const char* kWhere = "schedule";

// PyTorch's _annealing_cos: from start (pct 0) to end (pct 1).
double cos_anneal(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

class Constant final : public Schedule {
 public:
  Constant(double base_lr, double mom, int64_t total) : Schedule(base_lr, mom, total) {}
  std::string kind() const override { return "constant"; }
  double lr(int64_t) const override { return base_lr_; }
};

class StepDecay final : public Schedule {
 public:
  StepDecay(double base_lr, double mom, int64_t total, int64_t step_size, double gamma)
      : Schedule(base_lr, mom, total), step_size_(step_size), gamma_(gamma) {}
  std::string kind() const override { return "step"; }
  double lr(int64_t step) const override {
    step = std::max<int64_t>(step, 0);
    return base_lr_ * std::pow(gamma_, static_cast<double>(step / step_size_));
  }

 private:
  int64_t step_size_;
  double gamma_;
};

class Cosine final : public Schedule {
 public:
  Cosine(double base_lr, double mom, int64_t total, double min_lr, int64_t warmup)
      : Schedule(base_lr, mom, total), min_lr_(min_lr), warmup_(warmup) {}
  std::string kind() const override { return "cosine"; }
  double lr(int64_t step) const override {
    step = std::max<int64_t>(step, 0);
    if (step < warmup_) return base_lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_);
    double T = static_cast<double>(total_steps_ - warmup_);
    double t = std::min(static_cast<double>(step - warmup_), T);
    return min_lr_ + (base_lr_ - min_lr_) * (1.0 + std::cos(std::numbers::pi * t / T)) / 2.0;
  }

 private:
  double min_lr_;
  int64_t warmup_;
};

// Mirrors torch.optim.lr_scheduler.OneCycleLR (two phases, cosine
// annealing) including its phase boundary at pct_start * total - 1.
class OneCycle final : public Schedule {
 public:
  OneCycle(double max_lr, double mom, int64_t total, const ScheduleConfig& c) : Schedule(max_lr, mom, total), c_(c) {
    initial_lr_ = max_lr / c.div_factor;
    min_lr_ = initial_lr_ / c.final_div_factor;
    phase1_end_ = c.pct_start * static_cast<double>(total) - 1.0;
    phase2_end_ = static_cast<double>(total) - 1.0;
  }
  std::string kind() const override { return "onecycle"; }
  double lr(int64_t step) const override {
    double pct;
    return phase(step, &pct) == 0 ? cos_anneal(initial_lr_, base_lr_, pct) : cos_anneal(base_lr_, min_lr_, pct);
  }
  double momentum(int64_t step) const override {
    if (!c_.cycle_momentum) return base_momentum_;
    double pct;
    return phase(step, &pct) == 0 ? cos_anneal(c_.max_momentum, c_.base_momentum, pct)
                                  : cos_anneal(c_.base_momentum, c_.max_momentum, pct);
  }
  bool cycles_momentum() const override { return c_.cycle_momentum; }

 private:
  int phase(int64_t step, double* pct) const {
    double s = static_cast<double>(std::clamp<int64_t>(step, 0, total_steps_ - 1));
    if (s <= phase1_end_) {
      *pct = phase1_end_ > 0 ? s / phase1_end_ : 1.0;
      return 0;
    }
    double span = phase2_end_ - phase1_end_;
    *pct = span > 0 ? (s - phase1_end_) / span : 1.0;
    return 1;
  }
  ScheduleConfig c_;
  double initial_lr_, min_lr_, phase1_end_, phase2_end_;
};

}  // namespace

void Schedule::apply(int64_t step, Optimizer& optimizer) const {
  optimizer.set_lr(static_cast<float>(lr(step)));
  if (cycles_momentum()) optimizer.set_momentum(static_cast<float>(momentum(step)));
}

nlohmann::json ScheduleConfig::to_json() const {
  nlohmann::json j = {{"kind", kind}};
  if (kind == "step") {
    j["step_size"] = step_size;
    j["gamma"] = gamma;
  } else if (kind == "cosine") {
    j["min_lr"] = min_lr;
    j["warmup_steps"] = warmup_steps;
  } else if (kind == "onecycle") {
    j["pct_start"] = pct_start;
    j["div_factor"] = div_factor;
    j["final_div_factor"] = final_div_factor;
    j["cycle_momentum"] = cycle_momentum;
    j["max_momentum"] = max_momentum;
    j["base_momentum"] = base_momentum;
  }
  return j;
}

ScheduleConfig ScheduleConfig::from_json(const nlohmann::json& j) {
  using namespace optim_json;
  ScheduleConfig c;
  if (j.is_string()) {
    c.kind = j.get<std::string>();
    c.validate();
    return c;
  }
  require_object(j, kWhere);
  reject_unknown(j,
                 {"kind", "step_size", "gamma", "min_lr", "warmup_steps", "pct_start", "div_factor", "final_div_factor",
                  "cycle_momentum", "max_momentum", "base_momentum"},
                 kWhere);
  read(j, "kind", kWhere, c.kind);
  read(j, "step_size", kWhere, c.step_size);
  read(j, "gamma", kWhere, c.gamma);
  read(j, "min_lr", kWhere, c.min_lr);
  read(j, "warmup_steps", kWhere, c.warmup_steps);
  read(j, "pct_start", kWhere, c.pct_start);
  read(j, "div_factor", kWhere, c.div_factor);
  read(j, "final_div_factor", kWhere, c.final_div_factor);
  read(j, "cycle_momentum", kWhere, c.cycle_momentum);
  read(j, "max_momentum", kWhere, c.max_momentum);
  read(j, "base_momentum", kWhere, c.base_momentum);
  c.validate();
  return c;
}

void ScheduleConfig::validate() const {
  using optim_json::bad_field;
  if (kind != "constant" && kind != "step" && kind != "cosine" && kind != "onecycle")
    throw InputError(kWhere, "field 'kind' must be one of constant, step, cosine, onecycle, got '" + kind + "'");
  if (step_size < 1) bad_field(kWhere, "step_size", "a positive integer", double(step_size));
  if (!(gamma > 0)) bad_field(kWhere, "gamma", "a positive number", gamma);
  if (!(min_lr >= 0)) bad_field(kWhere, "min_lr", "a non-negative number", min_lr);
  if (warmup_steps < 0) bad_field(kWhere, "warmup_steps", "a non-negative integer", double(warmup_steps));
  if (!(pct_start > 0 && pct_start < 1)) bad_field(kWhere, "pct_start", "in (0, 1)", pct_start);
  if (!(div_factor > 0)) bad_field(kWhere, "div_factor", "a positive number", div_factor);
  if (!(final_div_factor > 0)) bad_field(kWhere, "final_div_factor", "a positive number", final_div_factor);
  if (!(max_momentum >= 0 && max_momentum < 1)) bad_field(kWhere, "max_momentum", "in [0, 1)", max_momentum);
  if (!(base_momentum >= 0 && base_momentum < 1)) bad_field(kWhere, "base_momentum", "in [0, 1)", base_momentum);
}

std::unique_ptr<Schedule> make_schedule(const ScheduleConfig& c, double base_lr, double base_momentum,
                                        int64_t total_steps) {
  c.validate();
  if (!(base_lr > 0) || !std::isfinite(base_lr))
    throw InputError(kWhere, "the base learning rate must be positive, got " + std::to_string(base_lr));
  if (total_steps < 1)
    throw InputError(kWhere,
                     "total steps must be positive, got " + std::to_string(total_steps) + " (no batches to train?)");
  if (c.kind == "step") return std::make_unique<StepDecay>(base_lr, base_momentum, total_steps, c.step_size, c.gamma);
  if (c.kind == "cosine") {
    if (c.min_lr > base_lr)
      optim_json::bad_field(kWhere, "min_lr", "at most the base LR " + std::to_string(base_lr), c.min_lr);
    if (c.warmup_steps >= total_steps)
      optim_json::bad_field(kWhere, "warmup_steps", "less than the total steps " + std::to_string(total_steps),
                            double(c.warmup_steps));
    return std::make_unique<Cosine>(base_lr, base_momentum, total_steps, c.min_lr, c.warmup_steps);
  }
  if (c.kind == "onecycle") return std::make_unique<OneCycle>(base_lr, base_momentum, total_steps, c);
  return std::make_unique<Constant>(base_lr, base_momentum, total_steps);
}

std::unique_ptr<Schedule> make_schedule(const nlohmann::json& config, double base_lr, double base_momentum,
                                        int64_t total_steps) {
  return make_schedule(ScheduleConfig::from_json(config), base_lr, base_momentum, total_steps);
}

}  // namespace perceptra
