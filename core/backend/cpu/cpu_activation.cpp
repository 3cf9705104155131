// Activations of the CPU backend (twin: cuda/cuda_activation.cu).
#include <algorithm>
#include <cmath>

#include <omp.h>

#include "core/backend/cpu/cpu_kernel.h"
#include "core/backend/cpu/cpu_lanes.h"

namespace perceptra {

namespace {
constexpr float kInvSqrt2 = 0.70710678118654752f;
constexpr float kInvSqrt2Pi = 0.39894228040143268f;

// The selecting activations (ReLU, leaky ReLU, ReLU6) and their masks on
// whole 16-float vectors: GCC compiled their `omp parallel for simd` loops
// mostly to a scalar compare-and-branch path (perf: ~80 % of the MLP's ReLU
// backward there, 0.022 -> 0.0045 s per 20,000 images rewritten). Each
// thread takes a run of whole vectors; the last one the scalar tail.
// Vectors the width of the machine's registers: GCC splits a 16-float vector
// on AVX2 into two, except where a lambda combines masks (ReLU6's backward,
// (v > 0) & (v < 6)): that it compiled to a scalar compare per element,
// 32 % of MobileNetV2's training step on an AVX2 machine (perf).
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif

template <class Body, class Tail>
void over_vectors(size_t n, Body body, Tail tail) {
  const size_t vectors = n / kLanes;
#pragma omp parallel if (n > kParallelMin)
  {
    const size_t t = size_t(omp_get_thread_num()), nt = size_t(omp_get_num_threads());
    const size_t v0 = vectors * t / nt, v1 = vectors * (t + 1) / nt;
    for (size_t v = v0; v < v1; ++v) body(v * kLanes);
    if (t + 1 == nt)
      for (size_t i = vectors * kLanes; i < n; ++i) tail(i);
  }
}

// y = f(x) elementwise, f given once for vectors and scalars alike (GCC's
// vector extensions accept the same expressions; a comparison of vectors
// gives a mask vector, which ?: takes lane by lane).
template <class F>
void map1(const float* x, float* y, size_t n, F f) {
  over_vectors(
      n, [=](size_t i) { store<kLanes>(y + i, f(load<kLanes>(x + i))); }, [=](size_t i) { y[i] = f(x[i]); });
}
// dx = f(x, dy) elementwise.
template <class F>
void map2(const float* x, const float* dy, float* dx, size_t n, F f) {
  over_vectors(
      n, [=](size_t i) { store<kLanes>(dx + i, f(load<kLanes>(x + i), load<kLanes>(dy + i))); },
      [=](size_t i) { dx[i] = f(x[i], dy[i]); });
}

}  // namespace

void CpuBackend::activation_forward(Activation a, float alpha, const float* x, float* y, size_t n) {
  PERCEPTRA_CPU_OP(kActivationForward);
  switch (a) {
    case Activation::ReLU:  // NaN and -0 kept, as PyTorch's relu and our fused ReLUs (max(0, x)) do
      map1(x, y, n, [](auto v) { return v < decltype(v){} ? decltype(v){} : v; });
      break;
    case Activation::LeakyReLU:
      map1(x, y, n, [alpha](auto v) { return v > decltype(v){} ? v : alpha * v; });
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
    case Activation::ReLU6:  // two selects, NaN kept (as std::min/max did)
      map1(x, y, n, [](auto v) {
        using T = decltype(v);
        const T six = T{} + 6.f;
        const T t = v < T{} ? T{} : v;
        return t > six ? six : t;
      });
      break;
  }
}

void CpuBackend::activation_backward(Activation a, float alpha, const float* x, const float* y, const float* dy,
                                     float* dx, size_t n) {
  PERCEPTRA_CPU_OP(kActivationBackward);
  switch (a) {
    case Activation::ReLU:  // PyTorch's threshold_backward: 0 where x <= 0 (dy passes at a NaN x; a NaN dy is masked)
      map2(x, dy, dx, n, [](auto v, auto g) { return v <= decltype(v){} ? decltype(v){} : g; });
      break;
    case Activation::LeakyReLU:
      map2(x, dy, dx, n, [alpha](auto v, auto g) { return v > decltype(v){} ? g : alpha * g; });
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
    case Activation::ReLU6:  // PyTorch's hardtanh_backward: 0 at and past the bounds, dy passes at a NaN x
      map2(x, dy, dx, n, [](auto v, auto g) {
        using T = decltype(v);
        return (v <= T{}) | (v >= T{} + 6.f) ? T{} : g;
      });
      break;
  }
}

}  // namespace perceptra
