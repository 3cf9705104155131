// SGD with momentum, dampening, Nesterov and L2 weight decay, with PyTorch's
// semantics (torch.optim.SGD): the velocity starts as the first gradient.
#include "core/backend/backend.h"
#include "core/optim/slot_optimizer.h"

namespace perceptra {

namespace {

class Sgd final : public SlotOptimizer {
 public:
  Sgd(const OptimizerConfig& c, std::vector<Parameter*> params)
      : SlotOptimizer(c, std::move(params), {"momentum_buffer"}, false) {}

 protected:
  void update(Parameter& p, ParamState& st, float lr) override {
    p.value.backend().sgd_update(p.value.data(), p.grad.data(), st.slots[0].data(),
                                 static_cast<size_t>(p.value.numel()), lr, momentum_, config().dampening, decay_of(p),
                                 config().nesterov, st.steps == 1);
  }
};

}  // namespace

std::unique_ptr<Optimizer> make_sgd(const OptimizerConfig& config, std::vector<Parameter*> params) {
  return std::make_unique<Sgd>(config, std::move(params));
}

}  // namespace perceptra
