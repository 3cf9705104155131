// The weight (and bias) gradient of a one-channel convolution whose dy is
// channel-blocked: a first layer on grey images in training (SimpleCNN's
// 1 -> 32). oneDNN's kernel is slow on one input channel (see
// cpu_conv_impl.h) and im2col wanted dy reordered to NCHW first (12.8 MB per
// batch of 128 there); this reads the blocked dy once, B output channels per
// vector, each tap a broadcast input value.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_kernel.h"
#include "core/backend/cpu/cpu_lanes.h"

namespace perceptra {

namespace {

constexpr int kMaxTaps = 49;  // up to 7x7; larger kernels stay on im2col

// TAPS = R * S when fixed at compile time (the sums then stay in registers),
// 0 for any kernel size. Per (sample, channel block) the sums are float over
// the plane; samples accumulate per thread in double, then across threads
// in thread order (fixed for a thread count).
template <int B, int TAPS>
void one_channel_dw(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* db) {
  using V = LaneF<B>;
  const int taps = TAPS ? TAPS : g.R * g.S, KB = g.K / B;
  const int Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w;
  std::vector<int> tap(static_cast<size_t>(taps));  // offsets in the padded plane
  for (int r = 0; r < g.R; ++r)
    for (int s = 0; s < g.S; ++s) tap[size_t(r) * g.S + s] = r * g.dil_h * Wp + s * g.dil_w;
  const int T = omp_get_max_threads();
  const size_t per = size_t(g.K) * (taps + 1);  // per channel: its taps, then its bias
  std::vector<double> part(size_t(T) * per, 0.0);
#pragma omp parallel num_threads(T)
  {
    double* acc = part.data() + size_t(omp_get_thread_num()) * per;
    std::vector<float> padded(size_t(Hp) * Wp, 0.f);  // the border stays zero
    V s[(TAPS ? TAPS : kMaxTaps) + 1];
    const int* t0 = tap.data();
#pragma omp for schedule(static)
    for (int n = 0; n < g.N; ++n) {
      const float* xn = x + size_t(n) * g.H * g.W;
      for (int h = 0; h < g.H; ++h)
        std::copy(xn + size_t(h) * g.W, xn + size_t(h + 1) * g.W, padded.data() + size_t(h + g.pad_h) * Wp + g.pad_w);
      for (int kb = 0; kb < KB; ++kb) {
        for (int t = 0; t <= taps; ++t) s[t] = V{};
        const float* d = dy + (size_t(n) * KB + kb) * size_t(g.P) * g.Q * B;
        for (int p = 0; p < g.P; ++p) {
          const float* row = padded.data() + size_t(p) * g.stride_h * Wp;
          for (int q = 0; q < g.Q; ++q) {
            const V dv = load<B>(d + (size_t(p) * g.Q + q) * B);
            const float* win = row + size_t(q) * g.stride_w;
            for (int t = 0; t < taps; ++t) s[t] += dv * win[t0[t]];
            s[taps] += dv;
          }
        }
        for (int l = 0; l < B; ++l)
          for (int t = 0; t <= taps; ++t) acc[size_t(kb * B + l) * (taps + 1) + t] += s[t][l];
      }
    }
  }
  for (int k = 0; k < g.K; ++k)
    for (int t = 0; t <= taps; ++t) {
      double v = 0;
      for (int i = 0; i < T; ++i) v += part[size_t(i) * per + size_t(k) * (taps + 1) + t];
      if (t < taps)
        dw[size_t(k) * taps + t] = static_cast<float>(v);
      else if (db)
        db[k] = static_cast<float>(v);
    }
}

}  // namespace

bool one_channel_blocked_weight_gradient(const ConvGeometry& g, const float* x, const float* dy, float* dw,
                                         float* db) {
  if (g.C != 1 || g.groups != 1 || g.in_block != 1 || (g.out_block != 8 && g.out_block != 16) ||
      g.K % g.out_block || g.R * g.S > kMaxTaps || !dw)
    return false;
  const bool three = g.R * g.S == 9;
  if (g.out_block == 16)
    three ? one_channel_dw<16, 9>(g, x, dy, dw, db) : one_channel_dw<16, 0>(g, x, dy, dw, db);
  else
    three ? one_channel_dw<8, 9>(g, x, dy, dw, db) : one_channel_dw<8, 0>(g, x, dy, dw, db);
  return true;
}

}  // namespace perceptra
