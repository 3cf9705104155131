// Dense algebra of the CPU backend: oneDNN sgemm (bf16 matmul at
// Precision::BF16, cpu_bf16.cpp), bias rows and column sums
// (twin: cuda/cuda_gemm.cu).
#include <dnnl.h>

#include <algorithm>
#include <string>

#include "core/backend/cpu/cpu_kernel.h"
#include "core/tensor/error.h"

namespace perceptra {

void cpu_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
               int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  PCHECK(st == dnnl_success, "dnnl_sgemm failed with status " + std::to_string(st) + " (M=" + std::to_string(M) +
                                 " N=" + std::to_string(N) + " K=" + std::to_string(K) + ")");
}

void CpuBackend::gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                      const float* B, int ldb, float beta, float* C, int ldc) {
  PERCEPTRA_CPU_OP(kGemm);
  if (cpu_precision() == Precision::BF16)
    return cpu_gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  cpu_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void CpuBackend::add_bias_rows(float* y, const float* bias, int rows, int cols) {
  PERCEPTRA_CPU_OP(kBiasRows);
#pragma omp parallel for if ((size_t)rows * cols > kParallelMin)
  for (int r = 0; r < rows; ++r) {
    float* yr = y + (size_t)r * cols;
#pragma omp simd
    for (int c = 0; c < cols; ++c) yr[c] += bias[c];
  }
}

void CpuBackend::sum_rows(const float* x, float* out, int rows, int cols, float beta) {
  PERCEPTRA_CPU_OP(kSumRows);
  // Column sums in double per column for stable bias gradients, 16 columns
  // at a time so each row is read along its cache lines (a column at a time
  // strode by whole rows: 3 % of the MLP's step). The same additions in the
  // same order per column as one column at a time.
  constexpr int kCols = 16;
  const int blocks = (cols + kCols - 1) / kCols;
#pragma omp parallel for if ((size_t)rows * cols > kParallelMin)
  for (int b = 0; b < blocks; ++b) {
    const int c0 = b * kCols, n = std::min(kCols, cols - c0);
    double s[kCols] = {};
    for (int r = 0; r < rows; ++r) {
      const float* xr = x + (size_t)r * cols + c0;
      for (int i = 0; i < n; ++i) s[i] += xr[i];
    }
    for (int i = 0; i < n; ++i) out[c0 + i] = static_cast<float>(s[i]) + (beta == 0.f ? 0.f : beta * out[c0 + i]);
  }
}

}  // namespace perceptra
