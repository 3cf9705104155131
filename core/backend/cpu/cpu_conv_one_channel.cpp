// The weight (and bias) gradient of a one-channel convolution whose dy is
// channel-blocked: a first layer on grey images in training (SimpleCNN's
// 1 -> 32). oneDNN's kernel is slow on one input channel (see
// cpu_conv_impl.h) and im2col wanted dy reordered to NCHW first (12.8 MB per
// batch of 128 there); this reads the blocked dy once, B output channels per
// vector, each tap a broadcast input value. Also the fused training forward
// and backward of such a layer with its ReLU and a 2x2 max pooling
// (conv2d_relu_maxpool_*): with one input channel the convolution costs
// less than writing its output, which those never do. And the plain
// forward into a blocked output (ResNet-small's stem, inference chains'
// first links).
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_kernel.h"
#include "core/backend/cpu/cpu_lanes.h"

namespace perceptra {

namespace {

constexpr int kMaxTaps = 49;  // up to 7x7; larger kernels stay on im2col

// The geometries both the weight gradient and the fused layer take.
bool one_channel_blocked(const ConvGeometry& g) {
  return g.C == 1 && g.groups == 1 && g.in_block == 1 && (g.out_block == 8 || g.out_block == 16) &&
         g.K % g.out_block == 0 && g.R * g.S <= kMaxTaps;
}

// x[n]'s plane with zeros around it (the padding), so windows need no bounds
// checks; the border of `padded` is zero from the start and stays so.
void pad_plane(const ConvGeometry& g, const float* x, int n, std::vector<float>& padded) {
  const int Wp = g.W + 2 * g.pad_w;
  const float* xn = x + size_t(n) * g.H * g.W;
  for (int h = 0; h < g.H; ++h)
    std::copy(xn + size_t(h) * g.W, xn + size_t(h + 1) * g.W, padded.data() + size_t(h + g.pad_h) * Wp + g.pad_w);
}

std::vector<int> tap_offsets(const ConvGeometry& g) {
  const int Wp = g.W + 2 * g.pad_w;
  std::vector<int> tap(size_t(g.R) * g.S);
  for (int r = 0; r < g.R; ++r)
    for (int s = 0; s < g.S; ++s) tap[size_t(r) * g.S + s] = r * g.dil_h * Wp + s * g.dil_w;
  return tap;
}

// w [K, taps] as [tap][K]: one tap's weights of B consecutive channels are
// one vector.
std::vector<float> weights_by_tap(const ConvGeometry& g, const float* w) {
  const int taps = g.R * g.S;
  std::vector<float> wt(size_t(taps) * g.K);
  for (int k = 0; k < g.K; ++k)
    for (int t = 0; t < taps; ++t) wt[size_t(t) * g.K + k] = w[size_t(k) * taps + t];
  return wt;
}

// body(n, kb, padded plane, the block's weight vector per tap, its bias
// vector) for every sample and block of B output channels, in parallel
// (the two forward kernels); a thread pads a sample's plane once for all
// the blocks it takes of that sample.
template <int B, int TAPS, class Body>
void over_samples_and_blocks(const ConvGeometry& g, const float* x, const float* w, const float* bias, Body body) {
  using V = LaneF<B>;
  const int taps = TAPS ? TAPS : g.R * g.S, KB = g.K / B;
  const int Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w;
  const std::vector<float> wt = weights_by_tap(g, w);
#pragma omp parallel
  {
    std::vector<float> padded(size_t(Hp) * Wp, 0.f);
    int padded_n = -1;
    V wv[(TAPS ? TAPS : kMaxTaps)];
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < g.N; ++n)
      for (int kb = 0; kb < KB; ++kb) {
        if (n != padded_n) pad_plane(g, x, padded_n = n, padded);
        for (int t = 0; t < taps; ++t) wv[t] = load<B>(wt.data() + size_t(t) * g.K + kb * B);
        body(n, kb, static_cast<const float*>(padded.data()), static_cast<const V*>(wv),
             bias ? load<B>(bias + kb * B) : V{});
      }
  }
}

// The per-thread sums (per channel: its taps, then its bias) added in thread
// order into dw [K, taps] and db.
void write_gradients(const std::vector<double>& part, int threads, int K, int taps, float* dw, float* db) {
  const size_t per = size_t(K) * (taps + 1);
  for (int k = 0; k < K; ++k)
    for (int t = 0; t <= taps; ++t) {
      double v = 0;
      for (int i = 0; i < threads; ++i) v += part[size_t(i) * per + size_t(k) * (taps + 1) + t];
      if (t < taps)
        dw[size_t(k) * taps + t] = static_cast<float>(v);
      else if (db)
        db[k] = static_cast<float>(v);
    }
}

// TAPS = R * S when fixed at compile time (the sums then stay in registers),
// 0 for any kernel size. Per (sample, channel block) the sums are float over
// the plane; samples accumulate per thread in double, then across threads
// in thread order (fixed for a thread count).
template <int B, int TAPS>
void one_channel_dw(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* db) {
  using V = LaneF<B>;
  const int taps = TAPS ? TAPS : g.R * g.S, KB = g.K / B;
  const int Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w;
  const std::vector<int> tap = tap_offsets(g);
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
      pad_plane(g, x, n, padded);
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
  write_gradients(part, T, g.K, taps, dw, db);
}

// y = post(w * x + bias) into a blocked y: each output vector is B channels,
// each tap a broadcast input value times a weight vector. oneDNN ran
// ResNet-small's stem (1 -> 16 at 28x28) at ~37 GFLOP/s.
template <int B, int TAPS>
void one_channel_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, ConvPost post,
                         float* y) {
  using V = LaneF<B>;
  const int taps = TAPS ? TAPS : g.R * g.S, KB = g.K / B, Wp = g.W + 2 * g.pad_w;
  const std::vector<int> tap = tap_offsets(g);
  const size_t out_plane = size_t(g.P) * g.Q * B;
  const V six = V{} + 6.f;
  over_samples_and_blocks<B, TAPS>(g, x, w, bias, [&](int n, int kb, const float* padded, const V* wv, V b0) {
    float* out = y + (size_t(n) * KB + kb) * out_plane;
    for (int p = 0; p < g.P; ++p) {
      const float* row = padded + size_t(p) * g.stride_h * Wp;
      for (int q = 0; q < g.Q; ++q) {
        const float* win = row + size_t(q) * g.stride_w;
        V a = b0;
        for (int t = 0; t < taps; ++t) a += wv[t] * win[tap[size_t(t)]];
        if (post != ConvPost::None) a = a < 0.f ? V{} : a;  // NaN and -0 kept, as activation_forward
        if (post == ConvPost::ReLU6) a = a > six ? six : a;
        store<B>(out + (size_t(p) * g.Q + q) * B, a);
      }
    }
  });
}

// The pooled plane is [P/2, Q/2]: window (p2, q2) covers the convolution's
// outputs (2 p2 + i, 2 q2 + j), offset i * 2 + j, as maxpool2d's argmax.
template <int B, int TAPS>
void conv_relu_maxpool_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                               float* argmax) {
  using V = LaneF<B>;
  const int taps = TAPS ? TAPS : g.R * g.S, KB = g.K / B, P2 = g.P / 2, Q2 = g.Q / 2;
  const int Wp = g.W + 2 * g.pad_w;
  const std::vector<int> tap = tap_offsets(g);
  const size_t out_plane = size_t(P2) * Q2 * B;
  over_samples_and_blocks<B, TAPS>(g, x, w, bias, [&](int n, int kb, const float* padded, const V* wv, V b0) {
    const size_t slab = (size_t(n) * KB + kb) * out_plane;
    for (int p2 = 0; p2 < P2; ++p2)
      for (int q2 = 0; q2 < Q2; ++q2) {
        V best{}, arg{};
        for (int i = 0; i < 4; ++i) {
          const float* win = padded + size_t(2 * p2 + i / 2) * g.stride_h * Wp + size_t(2 * q2 + i % 2) * g.stride_w;
          V a = b0;
          for (int t = 0; t < taps; ++t) a += wv[t] * win[tap[size_t(t)]];
          a = a < 0.f ? V{} : a;  // the ReLU (NaN stays)
          if (i == 0)
            best = a;
          else
            take_if_greater<B>(a, float(i), best, arg);
        }
        const size_t o = slab + (size_t(p2) * Q2 + q2) * B;
        store<B>(y + o, best);
        store<B>(argmax + o, arg);
      }
  });
}

template <int B, int TAPS>
void conv_relu_maxpool_backward(const ConvGeometry& g, const float* x, const float* y, const float* argmax,
                                const float* dy, float* dw, float* db) {
  using V = LaneF<B>;
  const int taps = TAPS ? TAPS : g.R * g.S, KB = g.K / B, P2 = g.P / 2, Q2 = g.Q / 2;
  const int Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w;
  const std::vector<int> tap = tap_offsets(g);
  // The four window cells' offsets in the padded plane, from the window's.
  const int cell[4] = {0, g.stride_w, g.stride_h * Wp, g.stride_h * Wp + g.stride_w};
  const size_t out_plane = size_t(P2) * Q2 * B;
  const int T = omp_get_max_threads();
  const size_t per = size_t(g.K) * (taps + 1);  // per channel: its taps, then its bias
  std::vector<double> part(size_t(T) * per, 0.0);
#pragma omp parallel num_threads(T)
  {
    double* acc = part.data() + size_t(omp_get_thread_num()) * per;
    std::vector<float> padded(size_t(Hp) * Wp, 0.f);
    V s[(TAPS ? TAPS : kMaxTaps) + 1];
#pragma omp for schedule(static)
    for (int n = 0; n < g.N; ++n) {
      pad_plane(g, x, n, padded);
      for (int kb = 0; kb < KB; ++kb) {
        for (int t = 0; t <= taps; ++t) s[t] = V{};
        const size_t slab = (size_t(n) * KB + kb) * out_plane;
        for (int p2 = 0; p2 < P2; ++p2)
          for (int q2 = 0; q2 < Q2; ++q2) {
            const size_t o = slab + (size_t(p2) * Q2 + q2) * B;
            const V d = load<B>(y + o) <= 0.f ? V{} : load<B>(dy + o);  // threshold_backward's rule
            const V a = load<B>(argmax + o);
            // The gradient reaches the window cell argmax names, lane by lane.
            const V d0 = a == 0.f ? d : V{}, d1 = a == 1.f ? d : V{}, d2 = a == 2.f ? d : V{}, d3 = a == 3.f ? d : V{};
            const float* win = padded.data() + size_t(2 * p2) * g.stride_h * Wp + size_t(2 * q2) * g.stride_w;
            for (int t = 0; t < taps; ++t) {
              const float* c = win + tap[size_t(t)];
              s[t] += d0 * c[cell[0]] + d1 * c[cell[1]] + d2 * c[cell[2]] + d3 * c[cell[3]];
            }
            s[taps] += d;
          }
        for (int l = 0; l < B; ++l)
          for (int t = 0; t <= taps; ++t) acc[size_t(kb * B + l) * (taps + 1) + t] += s[t][l];
      }
    }
  }
  write_gradients(part, T, g.K, taps, dw, db);
}

}  // namespace

bool CpuBackend::fuses_conv_relu_maxpool(const ConvGeometry& g) const {
  return one_channel_blocked(g) && g.P >= 2 && g.Q >= 2 && g.out_block == activation_channel_block(g.K);
}

void CpuBackend::conv2d_relu_maxpool_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                                             float* y, float* argmax) {
  PERCEPTRA_CPU_OP(kConvForward);
  PCHECK(one_channel_blocked(g) && g.P >= 2 && g.Q >= 2,
         "conv2d_relu_maxpool_forward: not a one-channel layer with a blocked output");
  const bool three = g.R * g.S == 9;
  if (g.out_block == 16)
    three ? conv_relu_maxpool_forward<16, 9>(g, x, w, bias, y, argmax)
          : conv_relu_maxpool_forward<16, 0>(g, x, w, bias, y, argmax);
  else
    three ? conv_relu_maxpool_forward<8, 9>(g, x, w, bias, y, argmax)
          : conv_relu_maxpool_forward<8, 0>(g, x, w, bias, y, argmax);
}

void CpuBackend::conv2d_relu_maxpool_backward(const ConvGeometry& g, const float* x, const float* y,
                                              const float* argmax, const float* dy, float* dw, float* db) {
  PERCEPTRA_CPU_OP(kConvBackward);
  PCHECK(one_channel_blocked(g) && g.P >= 2 && g.Q >= 2,
         "conv2d_relu_maxpool_backward: not a one-channel layer with a blocked output");
  const bool three = g.R * g.S == 9;
  if (g.out_block == 16)
    three ? conv_relu_maxpool_backward<16, 9>(g, x, y, argmax, dy, dw, db)
          : conv_relu_maxpool_backward<16, 0>(g, x, y, argmax, dy, dw, db);
  else
    three ? conv_relu_maxpool_backward<8, 9>(g, x, y, argmax, dy, dw, db)
          : conv_relu_maxpool_backward<8, 0>(g, x, y, argmax, dy, dw, db);
}

bool one_channel_blocked_weight_gradient(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* db) {
  if (!one_channel_blocked(g) || !dw) return false;
  const bool three = g.R * g.S == 9;
  if (g.out_block == 16)
    three ? one_channel_dw<16, 9>(g, x, dy, dw, db) : one_channel_dw<16, 0>(g, x, dy, dw, db);
  else
    three ? one_channel_dw<8, 9>(g, x, dy, dw, db) : one_channel_dw<8, 0>(g, x, dy, dw, db);
  return true;
}

bool one_channel_blocked_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                                 ConvPost post, float* y) {
  // Float32 only: at bf16 the convolution's inputs are rounded, which
  // oneDNN's bf16 kernel does.
  if (!one_channel_blocked(g) || cpu_precision() != Precision::F32) return false;
  const bool three = g.R * g.S == 9;
  if (g.out_block == 16)
    three ? one_channel_forward<16, 9>(g, x, w, bias, post, y) : one_channel_forward<16, 0>(g, x, w, bias, post, y);
  else
    three ? one_channel_forward<8, 9>(g, x, w, bias, post, y) : one_channel_forward<8, 0>(g, x, w, bias, post, y);
  return true;
}

}  // namespace perceptra
