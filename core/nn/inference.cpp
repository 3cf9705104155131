#include "core/nn/inference.h"

#include <cstdlib>
#include <cstring>

#include "core/nn/activation.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/pool2d.h"

namespace perceptra {

namespace {

bool initial_fusion() {
  const char* e = std::getenv("PERCEPTRA_FUSE");
  return !(e && std::strcmp(e, "0") == 0);
}
bool g_fusion = initial_fusion();

// The activation a convolution can take as its post-op.
ConvPost fusable_post(const Layer* l) {
  auto* a = dynamic_cast<const ActivationLayer*>(l);
  if (a && a->kind() == Activation::ReLU) return ConvPost::ReLU;
  if (a && a->kind() == Activation::ReLU6) return ConvPost::ReLU6;
  return ConvPost::None;
}

// One convolution of a chain with what folds into it.
struct Link {
  const Conv2d* conv = nullptr;
  const BatchNorm* bn = nullptr;
  ConvPost post = ConvPost::None;
  const MaxPool2d* pool = nullptr;
};

// The links starting at layers[i] (conv [batchnorm2d] [relu|relu6]
// [maxpool2d], then the next conv directly after, ...); advances i past them.
std::vector<Link> take_chain(const std::vector<LayerPtr>& layers, size_t& i) {
  constexpr size_t kMaxLinks = 8;  // the backend keeps a chain's primitives at once
  std::vector<Link> chain;
  while (i < layers.size() && chain.size() < kMaxLinks) {
    auto* conv = dynamic_cast<const Conv2d*>(layers[i].get());
    if (!conv) break;
    Link l{conv};
    ++i;
    if (i < layers.size()) {
      auto* bn = dynamic_cast<const BatchNorm*>(layers[i].get());
      if (bn && bn->type() == "batchnorm2d") {
        l.bn = bn;
        ++i;
      }
    }
    if (i < layers.size()) {
      l.post = fusable_post(layers[i].get());
      if (l.post != ConvPost::None) ++i;
    }
    if (i < layers.size()) {
      l.pool = dynamic_cast<const MaxPool2d*>(layers[i].get());
      if (l.pool) ++i;
    }
    chain.push_back(l);
  }
  return chain;
}

// The chain as one backend call: intermediate outputs never leave the
// backend's preferred layout (oneDNN's blocked one on the CPU).
Tensor run_chain(const std::vector<Link>& chain, const Tensor& x) {
  if (chain.size() == 1 && !chain[0].pool) return chain[0].conv->infer_fused(x, chain[0].bn, chain[0].post);
  std::vector<Conv2d::Folded> folded;
  std::vector<ConvLink> links;
  folded.reserve(chain.size());
  Shape shape = x.shape();
  for (const Link& l : chain) {
    Shape out = l.conv->output_shape(shape);  // validates every link's input
    folded.push_back(l.conv->fold(shape, l.bn, x.device()));
    ConvLink c;
    c.g = folded.back().g;
    c.w = folded.back().w.data();
    c.bias = folded.back().b.defined() ? folded.back().b.data() : nullptr;
    c.post = l.post;
    if (l.pool) {
      const Shape pooled = l.pool->output_shape(out);
      c.pool = pool_geometry(l.pool->options(), out);
      out = pooled;
    }
    links.push_back(c);
    shape = out;
  }
  Tensor y = Tensor::empty(shape, x.device());
  backend_for(x.device()).conv2d_chain_forward(int(links.size()), links.data(), x.data(), y.data());
  return y;
}

}  // namespace

void set_inference_fusion(bool on) { g_fusion = on; }
bool inference_fusion() { return g_fusion; }

Tensor infer_layers(const std::vector<LayerPtr>& layers, const Tensor& x) {
  Tensor h = x;
  size_t i = 0;
  while (i < layers.size()) {
    if (!g_fusion || !dynamic_cast<const Conv2d*>(layers[i].get())) {
      h = layers[i]->infer(h);
      ++i;
      continue;
    }
    h = run_chain(take_chain(layers, i), h);
  }
  return h;
}

}  // namespace perceptra
