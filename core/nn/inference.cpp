#include "core/nn/inference.h"

#include <cstdlib>
#include <cstring>

#include "core/nn/activation.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/linear.h"
#include "core/nn/pool2d.h"
#include "core/nn/residual.h"

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

// One convolution of a chain with what folds into it; a residual block's
// last convolution also adds the block's shortcut: the input of link
// `residual_from`, through proj (+ proj_bn) when the block projects.
struct Link {
  const Conv2d* conv = nullptr;
  const BatchNorm* bn = nullptr;
  ConvPost post = ConvPost::None;
  const MaxPool2d* pool = nullptr;
  int residual_from = -1;
  const Conv2d* proj = nullptr;
  const BatchNorm* proj_bn = nullptr;
};

constexpr size_t kMaxLinks = 16;  // the backend keeps a chain's primitives at once

bool is_bn2d(const Layer* l) {
  auto* bn = dynamic_cast<const BatchNorm*>(l);
  return bn && bn->type() == "batchnorm2d";
}

std::vector<Link> take_chain(const std::vector<LayerPtr>& layers, size_t& i);

// A residual block as links appended to `chain`: its whole branch must be
// a chain ending in a convolution without post-op or pooling, its shortcut
// the identity or conv + batchnorm2d, its activation none, ReLU or ReLU6.
// False (chain untouched) otherwise.
bool take_residual(const Residual& r, std::vector<Link>& chain) {
  size_t j = 0;
  std::vector<Link> branch = take_chain(r.branch(), j);
  if (branch.empty() || j != r.branch().size() || chain.size() + branch.size() > kMaxLinks) return false;
  Link& last = branch.back();
  if (last.post != ConvPost::None || last.pool || last.residual_from >= 0) return false;
  ConvPost post = ConvPost::None;
  if (r.activation()) {
    post = fusable_post(r.activation());
    if (post == ConvPost::None) return false;
  }
  if (r.projection()) {
    last.proj = dynamic_cast<const Conv2d*>(r.projection());
    last.proj_bn = dynamic_cast<const BatchNorm*>(r.projection_norm());
    if (!last.proj || !is_bn2d(last.proj_bn)) return false;
  }
  const int base = int(chain.size());
  for (Link& l : branch)
    if (l.residual_from >= 0) l.residual_from += base;  // nested blocks
  last.residual_from = base;
  last.post = post;
  chain.insert(chain.end(), branch.begin(), branch.end());
  return true;
}

// The links starting at layers[i] (conv [batchnorm2d] [relu|relu6]
// [maxpool2d], or a residual block of such links, then the next directly
// after, ...); advances i past them.
std::vector<Link> take_chain(const std::vector<LayerPtr>& layers, size_t& i) {
  std::vector<Link> chain;
  while (i < layers.size() && chain.size() < kMaxLinks) {
    if (auto* r = dynamic_cast<const Residual*>(layers[i].get())) {
      if (!take_residual(*r, chain)) break;
      ++i;
      continue;
    }
    auto* conv = dynamic_cast<const Conv2d*>(layers[i].get());
    if (!conv) break;
    Link l{conv};
    ++i;
    if (i < layers.size() && is_bn2d(layers[i].get())) {
      l.bn = dynamic_cast<const BatchNorm*>(layers[i].get());
      ++i;
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
  std::vector<Conv2d::Folded> folded;  // owns the folded weights until the call returns
  std::vector<ConvLink> links;
  std::vector<Shape> inputs;  // each link's input shape
  Shape shape = x.shape();
  for (const Link& l : chain) {
    inputs.push_back(shape);
    Shape out = l.conv->output_shape(shape);  // validates every link's input
    folded.push_back(l.conv->fold(shape, l.bn, x.device()));
    ConvLink c;
    c.g = folded.back().g;
    c.w = folded.back().w.data();
    c.bias = folded.back().b.defined() ? folded.back().b.data() : nullptr;
    c.post = l.post;
    c.residual_from = l.residual_from;
    if (l.proj) {
      folded.push_back(l.proj->fold(inputs[size_t(l.residual_from)], l.proj_bn, x.device()));
      c.proj_g = folded.back().g;
      c.proj_w = folded.back().w.data();
      c.proj_bias = folded.back().b.defined() ? folded.back().b.data() : nullptr;
    }
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
    const Layer* l = layers[i].get();
    std::vector<Link> chain;
    if (g_fusion && (dynamic_cast<const Conv2d*>(l) || dynamic_cast<const Residual*>(l))) chain = take_chain(layers, i);
    const auto* linear = g_fusion ? dynamic_cast<const Linear*>(l) : nullptr;
    const ConvPost post = linear && i + 1 < layers.size() ? fusable_post(layers[i + 1].get()) : ConvPost::None;
    if (post != ConvPost::None) {  // Linear + ReLU / ReLU6 as one matmul
      h = linear->infer_post(layer_input(*linear, h), post);
      i += 2;
      continue;
    }
    if (chain.empty()) {  // not a chain (or a residual block the chains cannot express)
      h = layers[i]->infer(h);
      ++i;
      continue;
    }
    h = run_chain(chain, h);
  }
  return h;
}

}  // namespace perceptra
