#pragma once
// Optimizers update Parameters in place through the backend's fused update
// ops. Parameter groups carry their own learning rate (discriminative LRs:
// Parameter::group indexes groups()); schedules set lr/momentum per step.
//
// step() skips parameters that are frozen (trainable == false) or have no
// grad (buffers); their state is created lazily, so unfreezing later works.
// Parameters with decay == false (biases, BatchNorm) get no weight decay and,
// for LARS, no trust ratio. make_optimizer sizes groups() to the largest
// Parameter::group + 1 (all lr_scale 1); a group index outside groups() at
// step() is an Error.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/layer.h"

namespace perceptra {

struct ParamGroup {
  float lr_scale = 1.f;  // this group's LR = scheduled LR * lr_scale
};

struct OptimizerConfig {
  std::string kind = "sgd";  // sgd | adam | adamw | lars
  float lr = 0.01f;
  float momentum = 0.9f;  // SGD/LARS momentum; Adam beta1 (cycled by one-cycle)
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  bool nesterov = false;
  float dampening = 0.f;
  float lars_eta = 0.001f;  // LARS trust coefficient
  nlohmann::json to_json() const;
  // Missing fields keep their defaults; unknown fields, wrong types and
  // out-of-range values throw InputError("optimizer", "field 'x' ...").
  static OptimizerConfig from_json(const nlohmann::json& j);
  // Range checks shared by from_json and make_optimizer.
  void validate() const;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every trainable parameter from its grad.
  virtual void step() = 0;
  // Schedules drive these each batch.
  void set_lr(float lr) { lr_ = lr; }
  float lr() const { return lr_; }
  void set_momentum(float m) { momentum_ = m; }
  float momentum() const { return momentum_; }
  std::vector<ParamGroup>& groups() { return groups_; }
  int64_t step_count() const { return steps_; }
  // Optimizer state (velocities, moments, step count) for checkpoints, as
  // named tensors in parameter order: "<param>.momentum_buffer" (SGD, LARS),
  // "<param>.exp_avg", "<param>.exp_avg_sq", "<param>.step" (Adam/AdamW) for
  // every parameter that has state, then "optimizer.step" (1 element).
  // Slot tensors are copies on the parameters' device; step counts are
  // 1-element CPU tensors (exact below 2^24). load_state replaces all
  // state and throws InputError for unknown names or mismatched shapes.
  virtual std::vector<std::pair<std::string, Tensor>> state() = 0;
  virtual void load_state(const std::vector<std::pair<std::string, Tensor>>& state) = 0;

 protected:
  std::vector<Parameter*> params_;
  std::vector<ParamGroup> groups_{ParamGroup{}};
  float lr_ = 0.01f, momentum_ = 0.9f;
  int64_t steps_ = 0;
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::vector<Parameter*> params);

}  // namespace perceptra
