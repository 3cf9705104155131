#include "core/nn/inference.h"

#include <cstdlib>
#include <cstring>

#include "core/nn/activation.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"

namespace perceptra {

namespace {

bool initial_fusion() {
  const char* e = std::getenv("PERCEPTRA_FUSE");
  return !(e && std::strcmp(e, "0") == 0);
}
bool g_fusion = initial_fusion();

bool is_relu(const Layer* l) {
  auto* a = dynamic_cast<const ActivationLayer*>(l);
  return a && a->kind() == Activation::ReLU;
}

}  // namespace

void set_inference_fusion(bool on) { g_fusion = on; }
bool inference_fusion() { return g_fusion; }

Tensor infer_layers(const std::vector<LayerPtr>& layers, const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto* conv = g_fusion ? dynamic_cast<Conv2d*>(layers[i].get()) : nullptr;
    if (!conv) {
      h = layers[i]->infer(h);
      continue;
    }
    const BatchNorm* bn = nullptr;
    if (i + 1 < layers.size()) {
      bn = dynamic_cast<const BatchNorm*>(layers[i + 1].get());
      if (bn && bn->type() != "batchnorm2d") bn = nullptr;
      if (bn) ++i;
    }
    const bool relu = i + 1 < layers.size() && is_relu(layers[i + 1].get());
    if (relu) ++i;
    h = conv->infer_fused(h, bn, relu);
  }
  return h;
}

}  // namespace perceptra
