#pragma once
// Shared by the CPU backend's tests.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/cpu/cpu_winograd.h"
#include "core/tensor/random.h"

namespace perceptra::test {

// The process's Winograd setting, put back when the test ends however it
// ends (an ASSERT returns early, and a setting left behind would change
// the kernels of every later test in the binary).
struct WinogradRestore {
  WinogradUse use = cpu_winograd_use();
  WinogradRestore() = default;
  WinogradRestore(const WinogradRestore&) = delete;
  WinogradRestore& operator=(const WinogradRestore&) = delete;
  ~WinogradRestore() { set_cpu_winograd(use); }
};

// n uniform values in [-1, 1), reproducible from the seed.
inline std::vector<float> randv(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(-1.f, 1.f);
  return v;
}

// One link of a test chain of 3x3 convolutions (padding 1): its output
// channels, stride, shortcut (an earlier link's input, -1 none), whether the
// shortcut is projected (1x1, with the stride of the link it comes from),
// and post-op.
struct ChainLinkSpec {
  int K, stride, from;
  bool proj;
  ConvPost post;
};

// The links and the weights they point at (kept here, so the chain is
// usable while this lives). Weights are scaled by 1/sqrt(fan-in), so
// activations stay O(1) through the links.
struct TestChain {
  std::vector<ConvLink> links;
  std::vector<std::vector<float>> w, b, pw, pb;
  TestChain(const TestChain&) = delete;
  TestChain(const std::vector<ChainLinkSpec>& spec, int N, int C, int H, int W, uint64_t seed)
      : links(spec.size()), pw(spec.size()), pb(spec.size()) {
    for (size_t i = 0; i < spec.size(); ++i) {
      const ChainLinkSpec& l = spec[i];
      ConvLink& c = links[i];
      c.g = make_conv_geometry(N, C, H, W, l.K, 3, 3, l.stride, l.stride, 1, 1);
      w.push_back(randv(size_t(l.K) * C * 9, seed + i));
      for (float& v : w.back()) v /= std::sqrt(float(C * 9));
      b.push_back(randv(size_t(l.K), seed + 10 + i));
      c.post = l.post;
      c.residual_from = l.from;
      if (l.proj) {
        const ConvGeometry& s = links[size_t(l.from)].g;
        c.proj_g = make_conv_geometry(N, s.C, s.H, s.W, l.K, 1, 1, s.stride_h, s.stride_w, 0, 0);
        pw[i] = randv(size_t(l.K) * s.C, seed + 20 + i);
        pb[i] = randv(size_t(l.K), seed + 30 + i);
      }
      C = l.K;
      H = c.g.P;
      W = c.g.Q;
    }
    for (size_t i = 0; i < links.size(); ++i) {
      links[i].w = w[i].data();
      links[i].bias = b[i].data();
      if (!pw[i].empty()) {
        links[i].proj_w = pw[i].data();
        links[i].proj_bias = pb[i].data();
      }
    }
  }
};

}  // namespace perceptra::test
