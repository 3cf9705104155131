// Activations of the CPU backend (twin: cuda/cuda_activation.cu).
#include <algorithm>
#include <cmath>

#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;
}  // namespace

void CpuBackend::activation_forward(Activation a, float alpha, const float* x, float* y, size_t n) {
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
    case Activation::ReLU6:
#pragma omp parallel for simd if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) {
        // Two selects, NaN kept (as std::min/max did), which GCC vectorises;
        // std::min(std::max()) compiled to a scalar compare-and-branch loop.
        const float v = x[i] < 0.f ? 0.f : x[i];
        y[i] = v > 6.f ? 6.f : v;
      }
      break;
  }
}

void CpuBackend::activation_backward(Activation a, float alpha, const float* x, const float* y, const float* dy,
                                     float* dx, size_t n) {
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
    case Activation::ReLU6:  // PyTorch's hardtanh_backward: 0 at the bounds too
#pragma omp parallel for simd if (n > kParallelMin)
      for (size_t i = 0; i < n; ++i) dx[i] = x[i] > 0.f && x[i] < 6.f ? dy[i] : 0.f;
      break;
  }
}

}  // namespace perceptra
