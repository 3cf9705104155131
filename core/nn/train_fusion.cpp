#include "core/nn/train_fusion.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/nn/activation.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/linear.h"
#include "core/nn/pool2d.h"

namespace perceptra {

namespace {

bool initial_fusion() {
  const char* e = std::getenv("PERCEPTRA_FUSE");
  return !(e && std::strcmp(e, "0") == 0);
}
bool g_fusion = initial_fusion();

}  // namespace

void set_training_fusion(bool on) { g_fusion = on; }
bool training_fusion() { return g_fusion; }

namespace {

ActivationLayer* as_relu(Layer* l) {
  auto* a = dynamic_cast<ActivationLayer*>(l);
  return a && a->kind() == Activation::ReLU ? a : nullptr;
}

}  // namespace

Tensor forward_layers(const std::vector<LayerPtr>& layers, const Tensor& x, bool training) {
  return forward_layers(layers, layers.size(), x, training);
}

Tensor forward_layers(const std::vector<LayerPtr>& layers, size_t count, const Tensor& x, bool training) {
  const size_t n = std::min(count, layers.size());
  Tensor h = x;
  const bool fuse = g_fusion && training;
  for (size_t i = 0; i < n; ++i) {
    auto* conv = fuse ? dynamic_cast<Conv2d*>(layers[i].get()) : nullptr;
    auto* bn = fuse ? dynamic_cast<BatchNorm*>(layers[i].get()) : nullptr;
    if (bn && bn->synced()) bn = nullptr;  // SyncBN computes on the host
    auto* linear = fuse ? dynamic_cast<Linear*>(layers[i].get()) : nullptr;
    ActivationLayer* relu = (conv || bn || linear) && i + 1 < n ? as_relu(layers[i + 1].get()) : nullptr;
    auto* after = relu && conv && i + 2 < n ? dynamic_cast<MaxPool2d*>(layers[i + 2].get()) : nullptr;
    Tensor pooled = after ? conv->forward_relu_maxpool(h, *after) : Tensor();
    if (pooled.defined()) {  // conv + ReLU + max pooling as one op (the ReLU's mask applied by the conv)
      h = pooled;
      relu->adopt_relu_output(h);
      relu->defer_mask();
      i += 2;
      continue;
    }
    if (relu && (conv || linear)) {
      h = conv ? conv->forward_relu(h) : linear->forward_relu(layer_input(*linear, h));
      relu->adopt_relu_output(h);
      ++i;
    } else if (relu) {  // batch norm + ReLU: the batch norm's backward applies the mask
      h = bn->forward_relu(h);
      relu->adopt_relu_output(h);
      relu->defer_mask();
      ++i;
    } else {
      h = layers[i]->forward(layer_input(*layers[i], h), training);
      relu = fuse ? as_relu(layers[i].get()) : nullptr;
    }
    // ReLU then max pooling: the pooling masks its own gradient instead.
    auto* pool = relu && i + 1 < n ? dynamic_cast<MaxPool2d*>(layers[i + 1].get()) : nullptr;
    if (pool) {
      h = pool->forward(layer_input(*pool, h), training);
      pool->mask_gradient_by_output(h);
      relu->defer_mask();
      ++i;
    }
  }
  return h;
}

}  // namespace perceptra
