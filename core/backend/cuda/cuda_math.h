#pragma once
// Per-element (or per-row / per-window / per-pixel) bodies of the CUDA
// kernels, written once as __host__ __device__ functions. The .cu kernels are
// thin grid-stride loops around them; tests/gpu/test_cuda_math.cpp runs the
// very same functions on the host (no GPU needed) and holds them against the
// CPU backend. The formulas follow core/backend/cpu/ line by line (same
// operation order, same float/double choices) so host runs agree to within
// rounding (compilers may fuse multiply-adds differently), and device runs
// differ further only by the device's libm (erff/expf/tanhf ulps) and
// cuBLAS summation order.
//
// Plain C++ when not compiled by nvcc, so host code needs no CUDA headers.
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "core/backend/backend.h"

#if defined(__CUDACC__)
#define PHD __host__ __device__ __forceinline__
#else
#define PHD inline
#endif

namespace perceptra::cudamath {

// ---- hashing and dropout ---------------------------------------------------

// Twin of perceptra::hash_u32 (core/tensor/random.h), which is host-only;
// the host test checks the two agree.
PHD uint32_t hash_u32(uint64_t seed, uint64_t counter) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (counter + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<uint32_t>(z >> 32);
}

struct DropoutArgs {
  double threshold;  // p * 2^32: keep when hash >= threshold
  float keep_scale;  // 1 / (1 - p)
  uint64_t seed;
};
inline DropoutArgs make_dropout_args(float p, uint64_t seed) {
  return {static_cast<double>(p) * 4294967296.0, p < 1.f ? 1.f / (1.f - p) : 0.f, seed};
}
PHD float dropout_mask(const DropoutArgs& a, uint64_t i) {
  return static_cast<double>(hash_u32(a.seed, i)) >= a.threshold ? a.keep_scale : 0.f;
}

// ---- float classification without <cmath> device/host differences ---------
PHD bool is_nan(float v) { return v != v; }
PHD bool is_finite(float v) { return v == v && v <= FLT_MAX && v >= -FLT_MAX; }

// ---- activations -------------------------------------------------------------
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

PHD float activation_forward(Activation a, float alpha, float x) {
  switch (a) {
    case Activation::ReLU:  // NaN and -0 kept, as on the CPU and in PyTorch
      return x < 0.f ? 0.f : x;
    case Activation::LeakyReLU:
      return x > 0.f ? x : alpha * x;
    case Activation::GELU:
      return 0.5f * x * (1.f + erff(x * kInvSqrt2));  // exact (erf) form
    case Activation::Sigmoid:
      return 1.f / (1.f + expf(-x));
    case Activation::Tanh:
      return tanhf(x);
    case Activation::ReLU6:
      return x < 0.f ? 0.f : x > 6.f ? 6.f : x;  // not fmaxf/fminf: they turn NaN into a bound
  }
  return x;
}

// dx for one element; y = f(x).
PHD float activation_backward(Activation a, float alpha, float x, float y, float dy) {
  switch (a) {
    case Activation::ReLU:  // PyTorch's threshold_backward: dy passes at a NaN x
      return x <= 0.f ? 0.f : dy;
    case Activation::LeakyReLU:
      return x > 0.f ? dy : alpha * dy;
    case Activation::GELU: {
      float cdf = 0.5f * (1.f + erff(x * kInvSqrt2));
      float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
      return dy * (cdf + x * pdf);
    }
    case Activation::Sigmoid:
      return dy * y * (1.f - y);
    case Activation::Tanh:
      return dy * (1.f - y * y);
    case Activation::ReLU6:
      return x <= 0.f || x >= 6.f ? 0.f : dy;
  }
  return dy;
}

// ---- softmax and losses (one row per call) ----------------------------------

PHD void softmax_row(const float* x, float* y, int C) {
  float mx = x[0];
  for (int c = 1; c < C; ++c) mx = x[c] > mx ? x[c] : mx;
  double s = 0;
  for (int c = 0; c < C; ++c) {
    y[c] = expf(x[c] - mx);
    s += y[c];
  }
  float inv = static_cast<float>(1.0 / s);
  for (int c = 0; c < C; ++c) y[c] *= inv;
}

// Writes the row's probabilities and returns its loss. A label outside
// [0, C) yields NaN (kernels cannot throw; has_non_finite catches it).
PHD float softmax_xent_row(const float* x, float label, float* p, int C, float smoothing) {
  float mx = x[0];
  for (int c = 1; c < C; ++c) mx = x[c] > mx ? x[c] : mx;
  double s = 0;
  for (int c = 0; c < C; ++c) s += exp(static_cast<double>(x[c]) - mx);
  const double lse = mx + log(s);  // log-sum-exp: stable for large logits
  const int y = static_cast<int>(label);
  double l = 0;
  for (int c = 0; c < C; ++c) {
    double logp = x[c] - lse;
    p[c] = static_cast<float>(exp(logp));
    double target = smoothing / C + (c == y ? 1.0 - smoothing : 0.0);
    l -= target * logp;
  }
  if (y < 0 || y >= C) return NAN;
  return static_cast<float>(l);
}

PHD float softmax_xent_grad(float prob, int c, float label, int C, float smoothing, float scale) {
  const int y = static_cast<int>(label);
  float target = smoothing / C + (c == y ? 1.f - smoothing : 0.f);
  return scale * (prob - target);
}

// ---- pooling (plane pointers: xp = one [H,W] plane, yp/dyp one [P,Q] plane) --

PHD float maxpool_window(const PoolGeometry& g, const float* xp, int p, int q) {
  float best = -INFINITY;
  for (int i = 0; i < g.kh; ++i) {
    int h = p * g.sh - g.ph + i;
    if (h < 0 || h >= g.H) continue;
    for (int j = 0; j < g.kw; ++j) {
      int w = q * g.sw - g.pw + j;
      if (w < 0 || w >= g.W) continue;
      float v = xp[h * g.W + w];
      if (v > best || is_nan(v)) best = v;  // NaN propagates, as in PyTorch
    }
  }
  return best;
}

PHD float avgpool_window(const PoolGeometry& g, const float* xp, int p, int q) {
  const float inv = 1.f / (g.kh * g.kw);  // padded cells count (count_include_pad)
  float s = 0.f;
  for (int i = 0; i < g.kh; ++i) {
    int h = p * g.sh - g.ph + i;
    if (h < 0 || h >= g.H) continue;
    for (int j = 0; j < g.kw; ++j) {
      int w = q * g.sw - g.pw + j;
      if (w >= 0 && w < g.W) s += xp[h * g.W + w];
    }
  }
  return s * inv;
}

// Output windows [lo, hi] along one axis that contain input coordinate h.
PHD void windows_covering(int h, int pad, int k, int stride, int out, int& lo, int& hi) {
  int a = h + pad - k + 1;
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  hi = (h + pad) / stride;
  if (hi > out - 1) hi = out - 1;
}

// Index (h*W + w) of the first element of window (p, q) equal to its max y.
PHD int maxpool_argmax(const PoolGeometry& g, const float* xp, float target, int p, int q) {
  for (int i = 0; i < g.kh; ++i) {
    int h = p * g.sh - g.ph + i;
    if (h < 0 || h >= g.H) continue;
    for (int j = 0; j < g.kw; ++j) {
      int w = q * g.sw - g.pw + j;
      if (w < 0 || w >= g.W) continue;
      float v = xp[h * g.W + w];
      if (v == target || (is_nan(v) && is_nan(target))) return h * g.W + w;
    }
  }
  return -1;
}

// Gathered max-pool gradient of input pixel (h, w): the sum of dy over the
// windows whose first maximum is this pixel, in the CPU's (p, q) order.
PHD float maxpool_backward_pixel(const PoolGeometry& g, const float* xp, const float* yp, const float* dyp, int h,
                                 int w) {
  int plo, phi, qlo, qhi;
  windows_covering(h, g.ph, g.kh, g.sh, g.P, plo, phi);
  windows_covering(w, g.pw, g.kw, g.sw, g.Q, qlo, qhi);
  float acc = 0.f;
  const int me = h * g.W + w;
  for (int p = plo; p <= phi; ++p)
    for (int q = qlo; q <= qhi; ++q)
      if (maxpool_argmax(g, xp, yp[p * g.Q + q], p, q) == me) acc += dyp[p * g.Q + q];
  return acc;
}

// Max pooling with argmax (training), as cpu_pool.cpp: the window maximum
// (maxpool_window) and the offset i * kw + j of its first occurrence.
PHD float maxpool_window_argmax(const PoolGeometry& g, const float* xp, int p, int q, int& offset) {
  const float best = maxpool_window(g, xp, p, q);
  offset = 0;
  for (int i = 0; i < g.kh; ++i) {
    int h = p * g.sh - g.ph + i;
    if (h < 0 || h >= g.H) continue;
    for (int j = 0; j < g.kw; ++j) {
      int w = q * g.sw - g.pw + j;
      if (w < 0 || w >= g.W) continue;
      float v = xp[h * g.W + w];
      if (v == best || (is_nan(v) && is_nan(best))) {
        offset = i * g.kw + j;
        return best;
      }
    }
  }
  return best;
}

// Gathered gradient of input pixel (h, w) from the recorded offsets (ap, one
// [P,Q] plane): the sum of dy over the windows whose argmax is this pixel, in
// the CPU's (p, q) order.
PHD float maxpool_backward_argmax_pixel(const PoolGeometry& g, const float* ap, const float* dyp, int h, int w) {
  int plo, phi, qlo, qhi;
  windows_covering(h, g.ph, g.kh, g.sh, g.P, plo, phi);
  windows_covering(w, g.pw, g.kw, g.sw, g.Q, qlo, qhi);
  float acc = 0.f;
  for (int p = plo; p <= phi; ++p)
    for (int q = qlo; q <= qhi; ++q) {
      const int offset = (h - (p * g.sh - g.ph)) * g.kw + (w - (q * g.sw - g.pw));
      if (static_cast<int>(ap[p * g.Q + q]) == offset) acc += dyp[p * g.Q + q];
    }
  return acc;
}

PHD float avgpool_backward_pixel(const PoolGeometry& g, const float* dyp, int h, int w) {
  const float inv = 1.f / (g.kh * g.kw);
  int plo, phi, qlo, qhi;
  windows_covering(h, g.ph, g.kh, g.sh, g.P, plo, phi);
  windows_covering(w, g.pw, g.kw, g.sw, g.Q, qlo, qhi);
  float acc = 0.f;
  for (int p = plo; p <= phi; ++p)
    for (int q = qlo; q <= qhi; ++q) acc += dyp[p * g.Q + q] * inv;
  return acc;
}

// ---- convolution lowering --------------------------------------------------
// The GPU lowers a chunk of `nb` images at once: col is [C*R*S, nb*P*Q]
// (column index n*PQ + pq), so one GEMM covers the chunk. x points at the
// chunk's first image.

PHD float im2col_value(const ConvGeometry& g, const float* x, int crs, int n, int pq) {
  const int s = crs % g.S, r = (crs / g.S) % g.R, c = crs / (g.R * g.S);
  const int p = pq / g.Q, q = pq % g.Q;
  const int h = p * g.stride_h - g.pad_h + r * g.dil_h;
  const int w = q * g.stride_w - g.pad_w + s * g.dil_w;
  if (h < 0 || h >= g.H || w < 0 || w >= g.W) return 0.f;
  return x[((size_t)(n * g.C + c) * g.H + h) * g.W + w];
}

// Adjoint of im2col for one input pixel (n, c, h, w): gathers every column
// entry it was copied to, in (r, s) order (as the CPU's col2im adds them).
PHD float col2im_pixel(const ConvGeometry& g, const float* col, int nb, int n, int c, int h, int w) {
  const size_t cols = (size_t)nb * g.P * g.Q;
  float acc = 0.f;
  for (int r = 0; r < g.R; ++r) {
    int ph = h + g.pad_h - r * g.dil_h;
    if (ph < 0 || ph % g.stride_h) continue;
    int p = ph / g.stride_h;
    if (p >= g.P) continue;
    for (int s = 0; s < g.S; ++s) {
      int qw = w + g.pad_w - s * g.dil_w;
      if (qw < 0 || qw % g.stride_w) continue;
      int q = qw / g.stride_w;
      if (q >= g.Q) continue;
      const int crs = (c * g.R + r) * g.S + s;
      acc += col[crs * cols + (size_t)n * g.P * g.Q + p * g.Q + q];
    }
  }
  return acc;
}

// ---- batch normalisation ---------------------------------------------------

struct BnChannel {
  float mean, invstd, running_mean, running_var;
};
// Finishes one channel from its sum and centred sum of squares (two-pass).
PHD BnChannel bn_channel_stats(double mean, double centred_ss, double count, float eps, float momentum,
                               float running_mean, float running_var) {
  const double var = centred_ss / count;
  BnChannel r;
  r.mean = static_cast<float>(mean);
  r.invstd = static_cast<float>(1.0 / sqrt(var + eps));
  const double unbiased = count > 1 ? centred_ss / (count - 1) : var;
  r.running_mean = (1.f - momentum) * running_mean + momentum * static_cast<float>(mean);
  r.running_var = (1.f - momentum) * running_var + momentum * static_cast<float>(unbiased);
  return r;
}

// dx of one element given the channel's sums of dy and dy*xhat.
PHD float bn_backward_elem(float x, float dy, float gamma, float mean, float invstd, double sdy, double sdyx,
                           double count) {
  const float k = gamma * invstd;
  const float mdy = static_cast<float>(sdy / count), mdyx = static_cast<float>(sdyx / count);
  const float xhat = (x - mean) * invstd;
  return k * (dy - mdy - xhat * mdyx);
}

// ---- optimizer updates -------------------------------------------------------

struct SgdArgs {
  float lr, momentum, dampening, weight_decay;
  bool nesterov, first_step;
};
// v is only touched when momentum != 0 (it may be null otherwise).
PHD void sgd_step(float* w, const float* g, float* v, size_t i, const SgdArgs& a) {
  float d = g[i] + a.weight_decay * w[i];
  if (a.momentum != 0.f) {
    float buf = a.first_step ? d : a.momentum * v[i] + (1.f - a.dampening) * d;
    v[i] = buf;
    d = a.nesterov ? d + a.momentum * buf : buf;
  }
  w[i] -= a.lr * d;
}

struct AdamArgs {
  float beta1, beta2, eps, step_size, bc2_sqrt, decay, l2;
};
inline AdamArgs make_adam_args(float lr, float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                               int64_t step) {
  const double bc1 = 1.0 - std::pow((double)beta1, (double)step);
  const double bc2 = 1.0 - std::pow((double)beta2, (double)step);
  AdamArgs a;
  a.beta1 = beta1;
  a.beta2 = beta2;
  a.eps = eps;
  a.step_size = static_cast<float>(lr / bc1);
  a.bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  a.decay = decoupled ? 1.f - lr * weight_decay : 1.f;
  a.l2 = decoupled ? 0.f : weight_decay;
  return a;
}
PHD void adam_step(float* w, const float* g, float* m, float* v, size_t i, const AdamArgs& a) {
  float gi = g[i] + a.l2 * w[i];
  float wi = w[i] * a.decay;
  float mi = a.beta1 * m[i] + (1.f - a.beta1) * gi;
  float vi = a.beta2 * v[i] + (1.f - a.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  w[i] = wi - a.step_size * mi / (sqrtf(vi) / a.bc2_sqrt + a.eps);
}

}  // namespace perceptra::cudamath
