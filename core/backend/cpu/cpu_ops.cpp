// Pooling, activations, losses and batch normalisation of the CPU backend.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_profile.h"

namespace perceptra {

namespace {
constexpr size_t kParallelMin = 1 << 15;
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
}  // namespace

// ---- pooling ---------------------------------------------------------------

namespace {

// NaN wins (propagates, as in PyTorch); written as a select so it vectorises.
inline float max_nan(float best, float v) { return (v > best || v != v) ? v : best; }
// Equal, or both NaN; bitwise (no short-circuit) so loops using it vectorise.
inline bool same(float v, float t) { return (v == t) | ((v != v) & (t != t)); }

bool is_2x2_s2(const PoolGeometry& g) {
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
}

// The common 2x2/stride 2 unpadded case, no bounds checks. With an even
// width it runs in two flat passes (vertical max of each row pair, then of
// neighbouring columns), which vectorise even for the short rows of 28x28
// planes (measured 2.5-5x faster than the per-window loop).
void maxpool_2x2_plane(const PoolGeometry& g, const float* xp, float* yp) {
  if (g.W == 2 * g.Q) {
    thread_local std::vector<float> tmp;
    tmp.resize((size_t)g.P * g.W);
    float* t = tmp.data();
    for (int p = 0; p < g.P; ++p) {
      const float* r0 = xp + (size_t)2 * p * g.W;
      const float* r1 = r0 + g.W;
      float* tr = t + (size_t)p * g.W;
#pragma omp simd
      for (int w = 0; w < g.W; ++w) tr[w] = max_nan(r0[w], r1[w]);
    }
    const int n = g.P * g.Q;
#pragma omp simd
    for (int k = 0; k < n; ++k) yp[k] = max_nan(t[2 * k], t[2 * k + 1]);
    return;
  }
  for (int p = 0; p < g.P; ++p) {
    const float* r0 = xp + (size_t)2 * p * g.W;
    const float* r1 = r0 + g.W;
    float* yr = yp + (size_t)p * g.Q;
#pragma omp simd
    for (int q = 0; q < g.Q; ++q) {
      float m = max_nan(r0[2 * q], r0[2 * q + 1]);
      m = max_nan(m, r1[2 * q]);
      yr[q] = max_nan(m, r1[2 * q + 1]);
    }
  }
}

void maxpool_generic_plane(const PoolGeometry& g, const float* xp, float* yp) {
  for (int p = 0; p < g.P; ++p) {
    const int h0 = std::max(p * g.sh - g.ph, 0), h1 = std::min(p * g.sh - g.ph + g.kh, g.H);
    for (int q = 0; q < g.Q; ++q) {
      const int w0 = std::max(q * g.sw - g.pw, 0), w1 = std::min(q * g.sw - g.pw + g.kw, g.W);
      float best = -std::numeric_limits<float>::infinity();
      for (int h = h0; h < h1; ++h)
        for (int w = w0; w < w1; ++w) best = max_nan(best, xp[h * g.W + w]);
      yp[p * g.Q + q] = best;
    }
  }
}

// Gradient to the first maximum of each window in row-major window order
// (the one forward picked), found again by comparing x with y.
void maxpool_2x2_backward_plane(const PoolGeometry& g, const float* xp, const float* yp,
                                const float* dyp, float* dxp) {
  for (int p = 0; p < g.P; ++p) {
    const float* r0 = xp + (size_t)2 * p * g.W;
    const float* r1 = r0 + g.W;
    float* d0 = dxp + (size_t)2 * p * g.W;
    float* d1 = d0 + g.W;
    const float* yr = yp + (size_t)p * g.Q;
    const float* dyr = dyp + (size_t)p * g.Q;
    // One output column per input column (each window's pair of columns
    // decides together), so loads and stores stay contiguous and vectorise.
    const int W2 = 2 * g.Q;
#pragma omp simd
    for (int w = 0; w < W2; ++w) {
      const int q = w >> 1;
      const float t = yr[q], d = dyr[q];
      const bool a = same(r0[2 * q], t);
      const bool b = !a && same(r0[2 * q + 1], t);
      const bool c = !a && !b && same(r1[2 * q], t);
      const bool odd = w & 1;
      d0[w] = (odd ? b : a) ? d : 0.f;
      d1[w] = (odd ? !(a || b || c) : c) ? d : 0.f;
    }
    if (g.W > 2 * g.Q) {  // odd width: the last column is in no window
      for (int w = 2 * g.Q; w < g.W; ++w) d0[w] = d1[w] = 0.f;
    }
  }
  for (int h = 2 * g.P; h < g.H; ++h)  // odd height: the last row neither
    std::fill(dxp + (size_t)h * g.W, dxp + (size_t)(h + 1) * g.W, 0.f);
}

void maxpool_generic_backward_plane(const PoolGeometry& g, const float* xp, const float* yp,
                                    const float* dyp, float* dxp) {
  std::fill(dxp, dxp + (size_t)g.H * g.W, 0.f);
  for (int p = 0; p < g.P; ++p) {
    const int h0 = std::max(p * g.sh - g.ph, 0), h1 = std::min(p * g.sh - g.ph + g.kh, g.H);
    for (int q = 0; q < g.Q; ++q) {
      const int w0 = std::max(q * g.sw - g.pw, 0), w1 = std::min(q * g.sw - g.pw + g.kw, g.W);
      const float t = yp[p * g.Q + q];
      bool done = false;
      for (int h = h0; h < h1 && !done; ++h)
        for (int w = w0; w < w1; ++w)
          if (same(xp[h * g.W + w], t)) {
            dxp[h * g.W + w] += dyp[p * g.Q + q];
            done = true;
            break;
          }
    }
  }
}

}  // namespace

void CpuBackend::maxpool2d_forward(const PoolGeometry& g, const float* x, float* y) {
  PERCEPTRA_CPU_OP(kMaxPoolForward);
  const int planes = g.N * g.C;
  const bool fast = is_2x2_s2(g);
#pragma omp parallel for schedule(static) if ((size_t)planes * g.H * g.W > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * g.H * g.W;
    float* yp = y + (size_t)pl * g.P * g.Q;
    if (fast)
      maxpool_2x2_plane(g, xp, yp);
    else
      maxpool_generic_plane(g, xp, yp);
  }
}

void CpuBackend::maxpool2d_backward(const PoolGeometry& g, const float* x, const float* y,
                                    const float* dy, float* dx) {
  PERCEPTRA_CPU_OP(kMaxPoolBackward);
  const int planes = g.N * g.C;
  const bool fast = is_2x2_s2(g);
#pragma omp parallel for schedule(static) if ((size_t)planes * g.H * g.W > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const size_t in = (size_t)pl * g.H * g.W, out = (size_t)pl * g.P * g.Q;
    if (fast)
      maxpool_2x2_backward_plane(g, x + in, y + out, dy + out, dx + in);
    else
      maxpool_generic_backward_plane(g, x + in, y + out, dy + out, dx + in);
  }
}

// 2x2/stride 2 only (SimpleCNN, LeNet): per window its offset 0-3 in the
// backward's search order (row-major, first maximum), as a float so both
// passes vectorise. Backward then reads dy and the offsets (2 x 1/4 of x)
// instead of x, y and dy; the op is memory-bound.
// Two flat passes like maxpool_2x2_plane, so short rows still vectorise:
// vertical max of each row pair (remembering which row won), then the max of
// neighbouring columns, whose winner decides the window offset.
void maxpool_2x2_argmax_plane(const PoolGeometry& g, const float* xp, float* yp, float* ap) {
  thread_local std::vector<float> tmp, low;
  tmp.resize((size_t)g.P * 2 * g.Q);
  low.resize(tmp.size());
  float* t = tmp.data();
  float* r = low.data();  // 1 where the lower row holds the column's maximum
  for (int p = 0; p < g.P; ++p) {
    const float* r0 = xp + (size_t)2 * p * g.W;
    const float* r1 = r0 + g.W;
    float* tr = t + (size_t)p * 2 * g.Q;
    float* rr = r + (size_t)p * 2 * g.Q;
#pragma omp simd
    for (int w = 0; w < 2 * g.Q; ++w) {
      const float m = max_nan(r0[w], r1[w]);
      tr[w] = m;
      rr[w] = same(r0[w], m) ? 0.f : 1.f;
    }
  }
  const int n = g.P * g.Q;
#pragma omp simd
  for (int k = 0; k < n; ++k) {
    const float c0 = t[2 * k], c1 = t[2 * k + 1];
    const float m = max_nan(c0, c1);
    yp[k] = m;
    const bool m0 = same(c0, m), m1 = same(c1, m);
    const bool upper0 = m0 & (r[2 * k] == 0.f), upper1 = m1 & (r[2 * k + 1] == 0.f);
    ap[k] = upper0 ? 0.f : upper1 ? 1.f : m0 ? 2.f : 3.f;
  }
}

bool CpuBackend::maxpool_has_argmax(const PoolGeometry& g) const { return is_2x2_s2(g); }

void CpuBackend::maxpool2d_forward_argmax(const PoolGeometry& g, const float* x, float* y,
                                          float* argmax) {
  PCHECK(is_2x2_s2(g), "maxpool2d_forward_argmax: only 2x2 windows with stride 2");
  PERCEPTRA_CPU_OP(kMaxPoolForward);
  const int planes = g.N * g.C;
#pragma omp parallel for schedule(static) if ((size_t)planes * g.H * g.W > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const size_t out = (size_t)pl * g.P * g.Q;
    maxpool_2x2_argmax_plane(g, x + (size_t)pl * g.H * g.W, y + out, argmax + out);
  }
}

void CpuBackend::maxpool2d_backward_argmax(const PoolGeometry& g, const float* argmax,
                                           const float* dy, float* dx) {
  PERCEPTRA_CPU_OP(kMaxPoolBackward);
  const int planes = g.N * g.C;
#pragma omp parallel for schedule(static) if ((size_t)planes * g.H * g.W > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const size_t out = (size_t)pl * g.P * g.Q;
    float* dxp = dx + (size_t)pl * g.H * g.W;
    for (int p = 0; p < g.P; ++p) {
      const float* ar = argmax + out + (size_t)p * g.Q;
      const float* dyr = dy + out + (size_t)p * g.Q;
      float* d0 = dxp + (size_t)2 * p * g.W;
      float* d1 = d0 + g.W;
#pragma omp simd
      for (int q = 0; q < g.Q; ++q) {
        const float k = ar[q], d = dyr[q];
        d0[2 * q] = k == 0.f ? d : 0.f;
        d0[2 * q + 1] = k == 1.f ? d : 0.f;
        d1[2 * q] = k == 2.f ? d : 0.f;
        d1[2 * q + 1] = k == 3.f ? d : 0.f;
      }
      for (int w = 2 * g.Q; w < g.W; ++w) d0[w] = d1[w] = 0.f;  // odd width
    }
    for (int h = 2 * g.P; h < g.H; ++h)  // odd height
      std::fill(dxp + (size_t)h * g.W, dxp + (size_t)(h + 1) * g.W, 0.f);
  }
}

void CpuBackend::avgpool2d_forward(const PoolGeometry& g, const float* x, float* y) {
  PERCEPTRA_CPU_OP(kAvgPool);
  const int planes = g.N * g.C;
  const float inv = 1.f / (g.kh * g.kw);
#pragma omp parallel for
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * g.H * g.W;
    float* yp = y + (size_t)pl * g.P * g.Q;
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        float s = 0.f;
        for (int i = 0; i < g.kh; ++i) {
          int h = p * g.sh - g.ph + i;
          if (h < 0 || h >= g.H) continue;
          for (int j = 0; j < g.kw; ++j) {
            int w = q * g.sw - g.pw + j;
            if (w >= 0 && w < g.W) s += xp[h * g.W + w];
          }
        }
        yp[p * g.Q + q] = s * inv;
      }
  }
}

void CpuBackend::avgpool2d_backward(const PoolGeometry& g, const float* dy, float* dx) {
  PERCEPTRA_CPU_OP(kAvgPool);
  const int planes = g.N * g.C;
  const float inv = 1.f / (g.kh * g.kw);
#pragma omp parallel for
  for (int pl = 0; pl < planes; ++pl) {
    const float* dyp = dy + (size_t)pl * g.P * g.Q;
    float* dxp = dx + (size_t)pl * g.H * g.W;
    std::fill(dxp, dxp + (size_t)g.H * g.W, 0.f);
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        float d = dyp[p * g.Q + q] * inv;
        for (int i = 0; i < g.kh; ++i) {
          int h = p * g.sh - g.ph + i;
          if (h < 0 || h >= g.H) continue;
          for (int j = 0; j < g.kw; ++j) {
            int w = q * g.sw - g.pw + j;
            if (w >= 0 && w < g.W) dxp[h * g.W + w] += d;
          }
        }
      }
  }
}

void CpuBackend::global_avgpool_forward(const float* x, float* y, int planes, int hw) {
  PERCEPTRA_CPU_OP(kGlobalAvgPool);
#pragma omp parallel for if ((size_t)planes * hw > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * hw;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < hw; ++i) s += xp[i];
    y[pl] = s / hw;
  }
}

void CpuBackend::global_avgpool_backward(const float* dy, float* dx, int planes, int hw) {
  PERCEPTRA_CPU_OP(kGlobalAvgPool);
#pragma omp parallel for if ((size_t)planes * hw > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    float d = dy[pl] / hw;
    float* dxp = dx + (size_t)pl * hw;
    for (int i = 0; i < hw; ++i) dxp[i] = d;
  }
}

// ---- activations -----------------------------------------------------------

void CpuBackend::activation_forward(Activation a, float alpha, const float* x, float* y,
                                    size_t n) {
  PERCEPTRA_CPU_OP(kActivationForward);
  switch (a) {
    case Activation::ReLU:
#pragma omp parallel for simd if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
      break;
    case Activation::LeakyReLU:
#pragma omp parallel for simd if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : alpha * x[i];
      break;
    case Activation::GELU:  // exact (erf) form, PyTorch's default
#pragma omp parallel for if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * kInvSqrt2));
      break;
    case Activation::Sigmoid:
#pragma omp parallel for if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
      break;
    case Activation::Tanh:
#pragma omp parallel for if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
      break;
  }
}

void CpuBackend::activation_backward(Activation a, float alpha, const float* x, const float* y,
                                     const float* dy, float* dx, size_t n) {
  PERCEPTRA_CPU_OP(kActivationBackward);
  switch (a) {
    case Activation::ReLU:
#pragma omp parallel for simd if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) dx[i] = x[i] > 0.f ? dy[i] : 0.f;
      break;
    case Activation::LeakyReLU:
#pragma omp parallel for simd if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) dx[i] = x[i] > 0.f ? dy[i] : alpha * dy[i];
      break;
    case Activation::GELU:
#pragma omp parallel for if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) {
        float cdf = 0.5f * (1.f + std::erf(x[i] * kInvSqrt2));
        float pdf = kInvSqrt2Pi * std::exp(-0.5f * x[i] * x[i]);
        dx[i] = dy[i] * (cdf + x[i] * pdf);
      }
      break;
    case Activation::Sigmoid:
#pragma omp parallel for simd if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.f - y[i]);
      break;
    case Activation::Tanh:
#pragma omp parallel for simd if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.f - y[i] * y[i]);
      break;
  }
}

// ---- losses ------------------------------------------------------------------

void CpuBackend::softmax(const float* x, float* y, int N, int C) {
  PERCEPTRA_CPU_OP(kSoftmaxXent);
#pragma omp parallel for if ((size_t)N * C > kParallelMin)
  for (int n = 0; n < N; ++n) {
    const float* xr = x + (size_t)n * C;
    float* yr = y + (size_t)n * C;
    float mx = *std::max_element(xr, xr + C);
    double s = 0;
    for (int c = 0; c < C; ++c) s += yr[c] = std::exp(xr[c] - mx);
    float inv = static_cast<float>(1.0 / s);
    for (int c = 0; c < C; ++c) yr[c] *= inv;
  }
}

void CpuBackend::softmax_xent_forward(const float* logits, const float* labels, float* probs,
                                      float* loss, int N, int C, float smoothing) {
  PERCEPTRA_CPU_OP(kSoftmaxXent);
#pragma omp parallel for if ((size_t)N * C > kParallelMin)
  for (int n = 0; n < N; ++n) {
    const float* xr = logits + (size_t)n * C;
    float* pr = probs + (size_t)n * C;
    float mx = *std::max_element(xr, xr + C);
    double s = 0;
    for (int c = 0; c < C; ++c) s += std::exp((double)xr[c] - mx);
    const double lse = mx + std::log(s);  // log-sum-exp: stable for large logits
    const int y = static_cast<int>(labels[n]);
    double l = 0;
    for (int c = 0; c < C; ++c) {
      double logp = xr[c] - lse;
      pr[c] = static_cast<float>(std::exp(logp));
      double target = smoothing / C + (c == y ? 1.0 - smoothing : 0.0);
      l -= target * logp;
    }
    loss[n] = static_cast<float>(l);
  }
}

void CpuBackend::softmax_xent_backward(const float* probs, const float* labels, float* dlogits,
                                       int N, int C, float smoothing, float scale) {
  PERCEPTRA_CPU_OP(kSoftmaxXent);
#pragma omp parallel for if ((size_t)N * C > kParallelMin)
  for (int n = 0; n < N; ++n) {
    const int y = static_cast<int>(labels[n]);
    for (int c = 0; c < C; ++c) {
      float target = smoothing / C + (c == y ? 1.f - smoothing : 0.f);
      dlogits[(size_t)n * C + c] = scale * (probs[(size_t)n * C + c] - target);
    }
  }
}

double CpuBackend::mse(const float* p, const float* t, float* dp, size_t n) {
  PERCEPTRA_CPU_OP(kSoftmaxXent);
  double s = 0;
  const float g = n ? 2.f / n : 0.f;
#pragma omp parallel for reduction(+ : s) if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) {
    float d = p[i] - t[i];
    s += (double)d * d;
    if (dp) dp[i] = g * d;
  }
  return n ? s / n : 0.0;
}

// ---- batch normalisation ---------------------------------------------------

void CpuBackend::batchnorm_forward_train(const float* x, float* y, const float* gamma,
                                         const float* beta, float* save_mean, float* save_invstd,
                                         float* running_mean, float* running_var, int N, int C,
                                         int HW, float momentum, float eps) {
  PERCEPTRA_CPU_OP(kBatchNorm);
  const double count = (double)N * HW;
#pragma omp parallel for
  for (int c = 0; c < C; ++c) {
    // Sums per plane in float (vectorised), planes accumulated in double.
    double s = 0, ss = 0;
    for (int n = 0; n < N; ++n) {
      const float* xp = x + ((size_t)n * C + c) * HW;
      float ps = 0.f;
#pragma omp simd reduction(+ : ps)
      for (int i = 0; i < HW; ++i) ps += xp[i];
      s += ps;
    }
    const double mean = s / count;
    const float meanf = static_cast<float>(mean);
    for (int n = 0; n < N; ++n) {  // two-pass variance: no cancellation
      const float* xp = x + ((size_t)n * C + c) * HW;
      float pss = 0.f;
#pragma omp simd reduction(+ : pss)
      for (int i = 0; i < HW; ++i) {
        const float d = xp[i] - meanf;
        pss += d * d;
      }
      ss += pss;
    }
    const double var = ss / count;
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = invstd;
    const double unbiased = count > 1 ? ss / (count - 1) : var;
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * static_cast<float>(mean);
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * static_cast<float>(unbiased);
    const float a = gamma[c] * invstd, b = beta[c] - static_cast<float>(mean) * a;
    for (int n = 0; n < N; ++n) {
      const float* xp = x + ((size_t)n * C + c) * HW;
      float* yp = y + ((size_t)n * C + c) * HW;
#pragma omp simd
      for (int i = 0; i < HW; ++i) yp[i] = xp[i] * a + b;
    }
  }
}

void CpuBackend::batchnorm_forward_eval(const float* x, float* y, const float* gamma,
                                        const float* beta, const float* running_mean,
                                        const float* running_var, int N, int C, int HW,
                                        float eps) {
  PERCEPTRA_CPU_OP(kBatchNorm);
#pragma omp parallel for collapse(2) if ((size_t)N * C * HW > kParallelMin)
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const float a = gamma[c] / std::sqrt(running_var[c] + eps);
      const float b = beta[c] - running_mean[c] * a;
      const float* xp = x + ((size_t)n * C + c) * HW;
      float* yp = y + ((size_t)n * C + c) * HW;
      for (int i = 0; i < HW; ++i) yp[i] = xp[i] * a + b;
    }
}

void CpuBackend::batchnorm_backward(const float* x, const float* dy, const float* gamma,
                                    const float* save_mean, const float* save_invstd, float* dx,
                                    float* dgamma, float* dbeta, int N, int C, int HW) {
  PERCEPTRA_CPU_OP(kBatchNorm);
  const double count = (double)N * HW;
#pragma omp parallel for
  for (int c = 0; c < C; ++c) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    double sdy = 0, sdyx = 0;
    for (int n = 0; n < N; ++n) {  // per plane in float (vectorised), planes in double
      const float* xp = x + ((size_t)n * C + c) * HW;
      const float* dyp = dy + ((size_t)n * C + c) * HW;
      float pdy = 0.f, pdyx = 0.f;
#pragma omp simd reduction(+ : pdy, pdyx)
      for (int i = 0; i < HW; ++i) {
        pdy += dyp[i];
        pdyx += dyp[i] * (xp[i] - mean);
      }
      sdy += pdy;
      sdyx += (double)pdyx * invstd;
    }
    dbeta[c] = static_cast<float>(sdy);
    dgamma[c] = static_cast<float>(sdyx);
    // dx = gamma*invstd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat))
    const float k = gamma[c] * invstd;
    const float mdy = static_cast<float>(sdy / count), mdyx = static_cast<float>(sdyx / count);
    for (int n = 0; n < N; ++n) {
      const float* xp = x + ((size_t)n * C + c) * HW;
      const float* dyp = dy + ((size_t)n * C + c) * HW;
      float* dxp = dx + ((size_t)n * C + c) * HW;
#pragma omp simd
      for (int i = 0; i < HW; ++i) {
        float xhat = (xp[i] - mean) * invstd;
        dxp[i] = k * (dyp[i] - mdy - xhat * mdyx);
      }
    }
  }
}

}  // namespace perceptra
