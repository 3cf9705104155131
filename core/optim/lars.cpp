// LARS: layer-wise adaptive rate scaling, Y. You, I. Gitman, B. Ginsburg,
// "Large Batch Training of Convolutional Networks" (arXiv:1708.03888),
// Algorithm 1. Per parameter tensor with weight decay beta and global LR:
//   local_lr = eta * ||w|| / (||g|| + beta * ||w||)   (1 when a norm is 0)
//   v = m * v + lr * local_lr * (g + beta * w);   w -= v
// The LR sits inside the velocity as in the paper. Parameters with
// decay == false (biases, BatchNorm) are excluded from adaptation, as usual:
// plain momentum SGD, v = m * v + lr * g, no weight decay.
#include <cmath>

#include "core/backend/backend.h"
#include "core/optim/slot_optimizer.h"

namespace perceptra {

namespace {

class Lars final : public SlotOptimizer {
 public:
  Lars(const OptimizerConfig& c, std::vector<Parameter*> params)
      : SlotOptimizer(c, std::move(params), {"momentum_buffer"}, false) {}

 protected:
  void update(Parameter& p, ParamState& st, float lr) override {
    Backend& be = p.value.backend();
    size_t n = static_cast<size_t>(p.value.numel());
    float wd = decay_of(p), scale = lr;
    if (p.decay) {
      double w_norm = std::sqrt(be.sum_squares(p.value.data(), n));
      double g_norm = std::sqrt(be.sum_squares(p.grad.data(), n));
      double trust = 1.0;
      if (w_norm > 0 && g_norm > 0) trust = config().lars_eta * w_norm / (g_norm + wd * w_norm);
      scale = static_cast<float>(lr * trust);
    }
    // sgd_update with lr 1 on (scale * g) and decay (scale * wd) puts
    // scale * (g + wd * w) into the velocity and subtracts the velocity.
    float* g = scratch_for(p, n);
    be.copy(g, p.grad.data(), n);
    be.scale(g, scale, n);
    be.sgd_update(p.value.data(), g, st.slots[0].data(), n, 1.f, momentum_, config().dampening, wd * scale,
                  config().nesterov, st.steps == 1);
  }

 private:
  // One scratch buffer, grown to the largest parameter, on the parameter's device.
  float* scratch_for(const Parameter& p, size_t n) {
    if (!scratch_.defined() || scratch_.device() != p.value.device() || static_cast<size_t>(scratch_.numel()) < n)
      scratch_ = Tensor::empty(Shape{static_cast<int64_t>(n)}, p.value.device());
    return scratch_.data();
  }
  Tensor scratch_;
};

}  // namespace

std::unique_ptr<Optimizer> make_lars(const OptimizerConfig& config, std::vector<Parameter*> params) {
  return std::make_unique<Lars>(config, std::move(params));
}

}  // namespace perceptra
