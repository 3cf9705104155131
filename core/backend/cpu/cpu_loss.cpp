// Softmax, cross-entropy and MSE of the CPU backend (twin: cuda/cuda_loss.cu).
#include <algorithm>
#include <cmath>

#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

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

void CpuBackend::softmax_xent_forward(const float* logits, const float* labels, float* probs, float* loss, int N, int C,
                                      float smoothing) {
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

void CpuBackend::softmax_xent_backward(const float* probs, const float* labels, float* dlogits, int N, int C,
                                       float smoothing, float scale) {
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

}  // namespace perceptra
