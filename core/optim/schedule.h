#pragma once
// Learning-rate schedules: constant, step, cosine (optional linear warmup)
// and one-cycle with momentum cycling (Smith; fastai's fit_one_cycle and
// torch.optim.lr_scheduler.OneCycleLR). A Schedule is a pure function of the
// 0-based step: lr(k) is the LR for the k-th optimizer update, identical to
// PyTorch's scheduler LR after k scheduler.step() calls. Steps at or past
// total_steps keep the final value (PyTorch raises or, for cosine, turns
// back up; a trainer that runs one step long should not see that).
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace perceptra {

class Optimizer;

struct ScheduleConfig {
  std::string kind = "constant";  // constant | step | cosine | onecycle
  // step: lr = base * gamma^floor(step / step_size)
  int64_t step_size = 1000;
  double gamma = 0.1;
  // cosine: linear warmup lr = base * (k+1) / warmup_steps for k < warmup_steps,
  // then min_lr + (base - min_lr) * (1 + cos(pi * t / T)) / 2 with
  // t = k - warmup_steps, T = total - warmup_steps (PyTorch CosineAnnealingLR).
  double min_lr = 0.0;
  int64_t warmup_steps = 0;
  // onecycle (base LR is the peak, PyTorch's max_lr): starts at base/div_factor,
  // cosine up to base over pct_start of the steps, cosine down to
  // base/(div_factor*final_div_factor); momentum max -> base -> max.
  double pct_start = 0.25;  // fastai's default (PyTorch's is 0.3)
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool cycle_momentum = true;
  double max_momentum = 0.95;
  double base_momentum = 0.85;

  nlohmann::json to_json() const;
  // Accepts an object or just a kind name ("cosine"). Missing fields keep
  // defaults; unknown fields, wrong types and bad values throw
  // InputError("schedule", "field 'x' ...").
  static ScheduleConfig from_json(const nlohmann::json& j);
  void validate() const;
};

class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual std::string kind() const = 0;
  virtual double lr(int64_t step) const = 0;
  // The optimizer's momentum (Adam: beta1) for a step; the base momentum
  // given to make_schedule unless this schedule cycles it.
  virtual double momentum(int64_t step) const {
    (void)step;
    return base_momentum_;
  }
  virtual bool cycles_momentum() const { return false; }
  int64_t total_steps() const { return total_steps_; }
  double base_lr() const { return base_lr_; }
  // Sets the optimizer's LR for `step`, and its momentum when cycled.
  void apply(int64_t step, Optimizer& optimizer) const;

 protected:
  Schedule(double base_lr, double base_momentum, int64_t total_steps)
      : base_lr_(base_lr), base_momentum_(base_momentum), total_steps_(total_steps) {}
  double base_lr_, base_momentum_;
  int64_t total_steps_;
};

// base_lr: the optimizer's configured LR (peak LR for one-cycle);
// base_momentum: its configured momentum; total_steps: epochs * batches.
// Throws InputError("schedule", ...) naming the field for bad values.
std::unique_ptr<Schedule> make_schedule(const ScheduleConfig& config, double base_lr, double base_momentum,
                                        int64_t total_steps);
std::unique_ptr<Schedule> make_schedule(const nlohmann::json& config, double base_lr, double base_momentum,
                                        int64_t total_steps);

}  // namespace perceptra
