#pragma once
// Optimizers update Parameters in place through the backend's fused update
// ops. Parameter groups carry their own learning rate (discriminative LRs:
// Parameter::group indexes groups()); schedules set lr/momentum per step.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/layer.h"

namespace perceptra {

struct ParamGroup {
  float lr_scale = 1.f;   // this group's LR = scheduled LR * lr_scale
};

struct OptimizerConfig {
  std::string kind = "sgd";     // sgd | adam | adamw | lars
  float lr = 0.01f;
  float momentum = 0.9f;        // SGD/LARS momentum; Adam beta1 (cycled by one-cycle)
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  bool nesterov = false;
  float dampening = 0.f;
  float lars_eta = 0.001f;      // LARS trust coefficient
  nlohmann::json to_json() const;
  static OptimizerConfig from_json(const nlohmann::json& j);  // throws InputError naming the field
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
  // named tensors in parameter order.
  virtual std::vector<std::pair<std::string, Tensor>> state() = 0;
  virtual void load_state(const std::vector<std::pair<std::string, Tensor>>& state) = 0;

 protected:
  std::vector<Parameter*> params_;
  std::vector<ParamGroup> groups_{ParamGroup{}};
  float lr_ = 0.01f, momentum_ = 0.9f;
  int64_t steps_ = 0;
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          std::vector<Parameter*> params);

}  // namespace perceptra
