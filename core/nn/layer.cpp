#include "core/nn/layer.h"

namespace perceptra {

void Layer::to(Device device) {
  for (Parameter* p : parameters()) {
    p->value = p->value.to(device);
    if (p->grad.defined()) p->grad = p->grad.to(device);
  }
}

bool Layer::has_trainable_parameters() {
  for (Parameter* p : parameters())
    if (p->trainable && p->grad.defined()) return true;
  return false;
}

// Counts parameters that have a gradient (trainable or frozen), not buffers:
// the same number as PyTorch's sum(p.numel() for p in model.parameters()).
int64_t Layer::parameter_count() {
  int64_t n = 0;
  for (Parameter* p : parameters())
    if (p->grad.defined()) n += p->value.numel();
  return n;
}

}  // namespace perceptra
