#pragma once
// Shared machinery of the concrete optimizers (internal to core/optim):
// per-parameter state "slots" (momentum buffer, Adam moments) created lazily
// on a parameter's first update, per-parameter step counts, group LRs, and
// the checkpoint export/import of all of it by parameter name.
#include <string>
#include <unordered_map>
#include <vector>

#include "core/optim/optimizer.h"

namespace perceptra {

class SlotOptimizer : public Optimizer {
 public:
  std::vector<std::pair<std::string, Tensor>> state() override;
  void load_state(const std::vector<std::pair<std::string, Tensor>>& state) override;
  void step() override;

 protected:
  struct ParamState {
    std::vector<Tensor> slots;  // empty until the parameter's first update
    int64_t steps = 0;          // updates this parameter received
  };

  // slot_names e.g. {"momentum_buffer"}; save_param_steps adds "<param>.step"
  // to the exported state (Adam's bias correction is per parameter).
  SlotOptimizer(const OptimizerConfig& config, std::vector<Parameter*> params, std::vector<std::string> slot_names,
                bool save_param_steps);

  // Updates one active parameter; st.slots exist (zeros on the first step),
  // st.steps already counts this update. lr includes the group's lr_scale.
  virtual void update(Parameter& p, ParamState& st, float lr) = 0;

  const OptimizerConfig& config() const { return config_; }
  // Weight decay for this parameter (0 for decay == false).
  float decay_of(const Parameter& p) const { return p.decay ? config_.weight_decay : 0.f; }

 private:
  const std::string& key_of(size_t i) const { return keys_[i]; }

  OptimizerConfig config_;
  std::vector<std::string> slot_names_;
  bool save_param_steps_;
  std::vector<std::string> keys_;  // state name prefix per parameter
  std::unordered_map<std::string, size_t> index_of_;
  std::vector<ParamState> states_;
};

std::unique_ptr<Optimizer> make_sgd(const OptimizerConfig& config, std::vector<Parameter*> params);
std::unique_ptr<Optimizer> make_adam(const OptimizerConfig& config, std::vector<Parameter*> params);
std::unique_ptr<Optimizer> make_lars(const OptimizerConfig& config, std::vector<Parameter*> params);

}  // namespace perceptra
