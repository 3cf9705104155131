#include "core/nn/train_fusion.h"

#include <cstdlib>
#include <cstring>

#include "core/nn/activation.h"
#include "core/nn/conv2d.h"

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

Tensor forward_layers(const std::vector<LayerPtr>& layers, const Tensor& x, bool training) {
  Tensor h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto* conv = g_fusion && training ? dynamic_cast<Conv2d*>(layers[i].get()) : nullptr;
    auto* relu = conv && i + 1 < layers.size() ? dynamic_cast<ActivationLayer*>(layers[i + 1].get()) : nullptr;
    if (!relu || relu->kind() != Activation::ReLU) {
      h = layers[i]->forward(h, training);
      continue;
    }
    h = conv->forward_relu(h);
    relu->adopt_relu_output(h);
    ++i;
  }
  return h;
}

}  // namespace perceptra
