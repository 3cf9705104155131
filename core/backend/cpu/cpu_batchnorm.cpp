// Batch normalisation of the CPU backend (twin: cuda/cuda_batchnorm.cu).
#include <cmath>

#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

void CpuBackend::batchnorm_forward_train(const float* x, float* y, const float* gamma, const float* beta,
                                         float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                         int N, int C, int HW, float momentum, float eps) {
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

void CpuBackend::batchnorm_forward_eval(const float* x, float* y, const float* gamma, const float* beta,
                                        const float* running_mean, const float* running_var, int N, int C, int HW,
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

void CpuBackend::batchnorm_backward(const float* x, const float* dy, const float* gamma, const float* save_mean,
                                    const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C,
                                    int HW) {
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
