// Adam (Kingma & Ba) with L2 weight decay added to the gradient, and AdamW
// (Loshchilov & Hutter) with decoupled decay w *= 1 - lr*wd, both as in
// torch.optim. beta1 is the optimizer's momentum() so one-cycle can cycle it.
#include "core/backend/backend.h"
#include "core/optim/slot_optimizer.h"

namespace perceptra {

namespace {

class Adam final : public SlotOptimizer {
 public:
  Adam(const OptimizerConfig& c, std::vector<Parameter*> params, bool decoupled)
      : SlotOptimizer(c, std::move(params), {"exp_avg", "exp_avg_sq"}, true), decoupled_(decoupled) {}

 protected:
  void update(Parameter& p, ParamState& st, float lr) override {
    p.value.backend().adam_update(p.value.data(), p.grad.data(), st.slots[0].data(), st.slots[1].data(),
                                  static_cast<size_t>(p.value.numel()), lr, momentum_, config().beta2, config().eps,
                                  decay_of(p), decoupled_, st.steps);
  }

 private:
  bool decoupled_;
};

}  // namespace

std::unique_ptr<Optimizer> make_adam(const OptimizerConfig& config, std::vector<Parameter*> params) {
  return std::make_unique<Adam>(config, std::move(params), config.kind == "adamw");
}

}  // namespace perceptra
