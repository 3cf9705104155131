// Elementwise ops, reductions and dropout of the CPU backend
// (twin: cuda/cuda_elementwise.cu).
#include <cmath>
#include <string>

#include "core/tensor/error.h"
#include "core/tensor/random.h"

#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

void CpuBackend::fill(float* x, size_t n, float value) {
  PERCEPTRA_CPU_OP(kMemory);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) x[i] = value;
}

void CpuBackend::reorder_channel_block(const float* x, float* y, int N, int C, int HW, int from, int to) {
  PERCEPTRA_CPU_OP(kMemory);
  PCHECK(from >= 1 && to >= 1 && C % from == 0 && C % to == 0, "reorder_channel_block: " + std::to_string(C) +
                                                                   " channels in blocks of " + std::to_string(from) +
                                                                   " -> " + std::to_string(to));
  const size_t n = size_t(N) * C * HW;
  if (from == to) return copy(y, x, n);
  if (from != 1 && to != 1) {  // through NCHW (no caller needs this often)
    CpuScratch t(n);
    reorder_channel_block(x, t.data(), N, C, HW, from, 1);
    return reorder_channel_block(t.data(), y, N, C, HW, 1, to);
  }
  const int b = from == 1 ? to : from, CB = C / b;
  // One [b channels x HW] slab at a time: b planes <-> HW rows of b.
#pragma omp parallel for collapse(2) if (n > kParallelMin)
  for (int i = 0; i < N; ++i)
    for (int cb = 0; cb < CB; ++cb) {
      const float* src = x + (size_t(i) * CB + cb) * size_t(HW) * b;  // the same offset in both layouts
      float* dst = y + (size_t(i) * CB + cb) * size_t(HW) * b;
      if (from == 1) {
        for (int p = 0; p < HW; ++p)
          for (int l = 0; l < b; ++l) dst[size_t(p) * b + l] = src[size_t(l) * HW + p];
      } else {
        for (int l = 0; l < b; ++l)
          for (int p = 0; p < HW; ++p) dst[size_t(l) * HW + p] = src[size_t(p) * b + l];
      }
    }
}

void CpuBackend::add(const float* a, const float* b, float* out, size_t n) {
  PERCEPTRA_CPU_OP(kElementwise);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void CpuBackend::mul(const float* a, const float* b, float* out, size_t n) {
  PERCEPTRA_CPU_OP(kElementwise);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void CpuBackend::axpby(float alpha, const float* x, float beta, float* y, size_t n) {
  PERCEPTRA_CPU_OP(kElementwise);
  if (beta == 0.f) {  // y may hold garbage (uninitialised): never read it
#pragma omp parallel for simd if (n > kParallelMin)
    for (size_t i = 0; i < n; ++i) y[i] = alpha * x[i];
    return;
  }
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) y[i] = alpha * x[i] + beta * y[i];
}

void CpuBackend::scale(float* x, float s, size_t n) {
  PERCEPTRA_CPU_OP(kElementwise);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

void CpuBackend::normalize_channels(const float* x, float* out, const float* mean, const float* inv_std, int N, int C,
                                    int HW) {
  PERCEPTRA_CPU_OP(kElementwise);
#pragma omp parallel for collapse(2) if ((size_t)N * C * HW > kParallelMin)
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      size_t off = ((size_t)n * C + c) * HW;
      float m = mean[c], s = inv_std[c];
#pragma omp simd
      for (int i = 0; i < HW; ++i) out[off + i] = (x[off + i] - m) * s;
    }
}

double CpuBackend::sum(const float* x, size_t n) {
  PERCEPTRA_CPU_OP(kReduction);
  double s = 0;
#pragma omp parallel for simd reduction(+ : s) if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) s += x[i];
  return s;
}

double CpuBackend::sum_squares(const float* x, size_t n) {
  PERCEPTRA_CPU_OP(kReduction);
  double s = 0;
#pragma omp parallel for simd reduction(+ : s) if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) s += (double)x[i] * x[i];
  return s;
}

bool CpuBackend::has_non_finite(const float* x, size_t n) {
  PERCEPTRA_CPU_OP(kReduction);
  int bad = 0;
#pragma omp parallel for reduction(| : bad) if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) bad |= !std::isfinite(x[i]);
  return bad != 0;
}

void CpuBackend::dropout_forward(const float* x, float* y, float* mask, size_t n, float p, uint64_t seed) {
  PERCEPTRA_CPU_OP(kElementwise);
  // keep when the 32-bit hash is >= p * 2^32; kept values are scaled by 1/(1-p).
  const double threshold = static_cast<double>(p) * 4294967296.0;
  const float keep_scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
#pragma omp parallel for if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) {
    float m = static_cast<double>(hash_u32(seed, i)) >= threshold ? keep_scale : 0.f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

}  // namespace perceptra
