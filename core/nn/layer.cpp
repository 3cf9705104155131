#include "core/nn/layer.h"

namespace perceptra {

Tensor layer_input(const Layer& layer, const Tensor& x) {
  return x.channel_block() == 1 || layer.accepts_channel_blocks() ? x : x.in_channel_block(1);
}

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
