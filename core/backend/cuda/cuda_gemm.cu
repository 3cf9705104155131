// Dense algebra of the CUDA backend: cuBLAS GEMM, bias rows and column sums
// (twin: cpu/cpu_gemm.cpp).
#include "core/backend/cuda/cuda_kernel.cuh"

namespace perceptra::cuda {

namespace {

__global__ void add_bias_rows_k(float* y, const float* bias, size_t total, int cols) {
  GRID_STRIDE(i, total) y[i] += bias[i % cols];
}
__global__ void sum_rows_k(const float* x, float* out, int rows, int cols, float beta) {
  GRID_STRIDE(c, (size_t)cols) {
    double s = 0;  // double per column, as the CPU
    for (int r = 0; r < rows; ++r) s += x[(size_t)r * cols + c];
    out[c] = static_cast<float>(s) + (beta == 0.f ? 0.f : beta * out[c]);
  }
}

}  // namespace

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the
// operands, keep the transpose flags, and swap M and N.
void CudaBackend::gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                       const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  activate();
  PCUBLAS(cublasSgemm(cublas_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                      &alpha, B, ldb, A, lda, &beta, C, ldc));
}

void CudaBackend::linear_forward(int N, int in, int out, const float* x, const float* w, const float* bias,
                                 ConvPost post, float* y) {
  linear_forward_op_by_op(*this, N, in, out, x, w, bias, post, y);
}

void CudaBackend::add_bias_rows(float* y, const float* bias, int rows, int cols) {
  const size_t total = (size_t)rows * cols;
  if (!total) return;
  activate();
  add_bias_rows_k<<<blocks_for(total), kThreads, 0, stream_>>>(y, bias, total, cols);
  PCUDA_LAUNCH("add_bias_rows_k");
}

void CudaBackend::sum_rows(const float* x, float* out, int rows, int cols, float beta) {
  if (!cols) return;
  activate();
  sum_rows_k<<<blocks_for(cols), kThreads, 0, stream_>>>(x, out, rows, cols, beta);
  PCUDA_LAUNCH("sum_rows_k");
}

}  // namespace perceptra::cuda
