// Softmax, cross-entropy and MSE of the CUDA backend (twin: cpu/cpu_loss.cpp).
#include "core/backend/cuda/cuda_kernel.cuh"

namespace perceptra::cuda {

namespace {

__global__ void softmax_k(const float* x, float* y, int N, int C) {
  GRID_STRIDE(r, (size_t)N) m::softmax_row(x + r * C, y + r * C, C);
}
__global__ void xent_forward_k(const float* logits, const float* labels, float* probs, float* loss, int N, int C,
                               float smoothing) {
  GRID_STRIDE(r, (size_t)N)
  loss[r] = m::softmax_xent_row(logits + r * C, labels[r], probs + r * C, C, smoothing);
}
__global__ void xent_backward_k(const float* probs, const float* labels, float* dlogits, int N, int C, float smoothing,
                                float scale) {
  GRID_STRIDE(i, (size_t)N * C) {
    const size_t r = i / C;
    dlogits[i] = m::softmax_xent_grad(probs[i], static_cast<int>(i % C), labels[r], C, smoothing, scale);
  }
}
__global__ void mse_partial_k(const float* p, const float* t, float* dp, size_t n, float g, double* partial) {
  double s = 0;
  GRID_STRIDE(i, n) {
    const float d = p[i] - t[i];
    s += (double)d * d;
    if (dp) dp[i] = g * d;
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

}  // namespace

void CudaBackend::softmax_xent_forward(const float* logits, const float* labels, float* probs, float* loss, int N,
                                       int C, float smoothing) {
  if (!N) return;
  activate();
  xent_forward_k<<<blocks_for(N), kThreads, 0, stream_>>>(logits, labels, probs, loss, N, C, smoothing);
  PCUDA_LAUNCH("xent_forward_k");
}

void CudaBackend::softmax_xent_backward(const float* probs, const float* labels, float* dlogits, int N, int C,
                                        float smoothing, float scale) {
  const size_t total = (size_t)N * C;
  if (!total) return;
  activate();
  xent_backward_k<<<blocks_for(total), kThreads, 0, stream_>>>(probs, labels, dlogits, N, C, smoothing, scale);
  PCUDA_LAUNCH("xent_backward_k");
}

void CudaBackend::softmax(const float* x, float* y, int N, int C) {
  if (!N) return;
  activate();
  softmax_k<<<blocks_for(N), kThreads, 0, stream_>>>(x, y, N, C);
  PCUDA_LAUNCH("softmax_k");
}

double CudaBackend::mse(const float* p, const float* t, float* dp, size_t n) {
  if (!n) return 0.0;
  activate();
  const float g = 2.f / n;
  mse_partial_k<<<kReduceBlocks, kThreads, 0, stream_>>>(p, t, dp, n, g, d_scratch_);
  PCUDA_LAUNCH("mse_partial_k");
  return finish_reduction() / n;
}

}  // namespace perceptra::cuda
