// Pooling, activations, losses and batch normalisation of the CPU backend.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/backend/cpu/cpu_backend.h"

namespace perceptra {

namespace {
constexpr size_t kParallelMin = 1 << 15;
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
}  // namespace

// ---- pooling ---------------------------------------------------------------

void CpuBackend::maxpool2d_forward(const PoolGeometry& g, const float* x, float* y) {
  const int planes = g.N * g.C;
#pragma omp parallel for
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * g.H * g.W;
    float* yp = y + (size_t)pl * g.P * g.Q;
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        float best = -std::numeric_limits<float>::infinity();
        for (int i = 0; i < g.kh; ++i) {
          int h = p * g.sh - g.ph + i;
          if (h < 0 || h >= g.H) continue;
          for (int j = 0; j < g.kw; ++j) {
            int w = q * g.sw - g.pw + j;
            if (w < 0 || w >= g.W) continue;
            float v = xp[h * g.W + w];
            // NaN propagates, as in PyTorch.
            if (v > best || std::isnan(v)) best = v;
          }
        }
        yp[p * g.Q + q] = best;
      }
  }
}

void CpuBackend::maxpool2d_backward(const PoolGeometry& g, const float* x, const float* y,
                                    const float* dy, float* dx) {
  const int planes = g.N * g.C;
#pragma omp parallel for
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * g.H * g.W;
    const float* yp = y + (size_t)pl * g.P * g.Q;
    const float* dyp = dy + (size_t)pl * g.P * g.Q;
    float* dxp = dx + (size_t)pl * g.H * g.W;
    std::fill(dxp, dxp + (size_t)g.H * g.W, 0.f);
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        const float target = yp[p * g.Q + q];
        bool done = false;
        for (int i = 0; i < g.kh && !done; ++i) {
          int h = p * g.sh - g.ph + i;
          if (h < 0 || h >= g.H) continue;
          for (int j = 0; j < g.kw; ++j) {
            int w = q * g.sw - g.pw + j;
            if (w < 0 || w >= g.W) continue;
            float v = xp[h * g.W + w];
            if (v == target || (std::isnan(v) && std::isnan(target))) {
              dxp[h * g.W + w] += dyp[p * g.Q + q];
              done = true;
              break;
            }
          }
        }
      }
  }
}

void CpuBackend::avgpool2d_forward(const PoolGeometry& g, const float* x, float* y) {
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
  const double count = (double)N * HW;
#pragma omp parallel for
  for (int c = 0; c < C; ++c) {
    double s = 0, ss = 0;
    for (int n = 0; n < N; ++n) {
      const float* xp = x + ((size_t)n * C + c) * HW;
      for (int i = 0; i < HW; ++i) s += xp[i];
    }
    const double mean = s / count;
    for (int n = 0; n < N; ++n) {  // two-pass variance: no cancellation
      const float* xp = x + ((size_t)n * C + c) * HW;
      for (int i = 0; i < HW; ++i) {
        double d = xp[i] - mean;
        ss += d * d;
      }
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
      for (int i = 0; i < HW; ++i) yp[i] = xp[i] * a + b;
    }
  }
}

void CpuBackend::batchnorm_forward_eval(const float* x, float* y, const float* gamma,
                                        const float* beta, const float* running_mean,
                                        const float* running_var, int N, int C, int HW,
                                        float eps) {
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
  const double count = (double)N * HW;
#pragma omp parallel for
  for (int c = 0; c < C; ++c) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    double sdy = 0, sdyx = 0;
    for (int n = 0; n < N; ++n) {
      const float* xp = x + ((size_t)n * C + c) * HW;
      const float* dyp = dy + ((size_t)n * C + c) * HW;
      for (int i = 0; i < HW; ++i) {
        sdy += dyp[i];
        sdyx += (double)dyp[i] * (xp[i] - mean) * invstd;
      }
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
      for (int i = 0; i < HW; ++i) {
        float xhat = (xp[i] - mean) * invstd;
        dxp[i] = k * (dyp[i] - mdy - xhat * mdyx);
      }
    }
  }
}

}  // namespace perceptra
