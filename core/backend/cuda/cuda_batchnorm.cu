// Batch normalisation of the CUDA backend (twin: cpu/cpu_batchnorm.cpp).
#include "core/backend/cuda/cuda_kernel.cuh"
#include "core/tensor/error.h"

namespace perceptra::cuda {

namespace {

// One block per channel: two-pass statistics, then the normalised output.
__global__ void bn_train_k(const float* x, float* y, const float* gamma, const float* beta, float* save_mean,
                           float* save_invstd, float* running_mean, float* running_var, int N, int C, int HW,
                           float momentum, float eps) {
  const int c = blockIdx.x;
  const size_t count = (size_t)N * HW;
  double s = 0;
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) s += x[((size_t)(i / HW) * C + c) * HW + i % HW];
  const double mean = block_sum(s) / (double)count;
  double ss = 0;
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) {
    double d = x[((size_t)(i / HW) * C + c) * HW + i % HW] - mean;
    ss += d * d;
  }
  ss = block_sum(ss);
  const m::BnChannel st = m::bn_channel_stats(mean, ss, (double)count, eps, momentum, running_mean[c], running_var[c]);
  __syncthreads();  // everyone has read the running stats before thread 0 writes them
  if (threadIdx.x == 0) {
    save_mean[c] = st.mean;
    save_invstd[c] = st.invstd;
    running_mean[c] = st.running_mean;
    running_var[c] = st.running_var;
  }
  const float a = gamma[c] * st.invstd, b = beta[c] - st.mean * a;
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) {
    const size_t off = ((size_t)(i / HW) * C + c) * HW + i % HW;
    y[off] = x[off] * a + b;
  }
}
__global__ void bn_eval_k(const float* x, float* y, const float* gamma, const float* beta, const float* rm,
                          const float* rv, size_t total, int C, int HW, float eps) {
  GRID_STRIDE(i, total) {
    const int c = static_cast<int>((i / HW) % C);
    const float a = gamma[c] / sqrtf(rv[c] + eps);
    const float b = beta[c] - rm[c] * a;
    y[i] = x[i] * a + b;
  }
}
__global__ void bn_backward_k(const float* x, const float* dy, const float* gamma, const float* save_mean,
                              const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C, int HW) {
  const int c = blockIdx.x;
  const size_t count = (size_t)N * HW;
  const float mean = save_mean[c], invstd = save_invstd[c];
  double sdy = 0, sdyx = 0;
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) {
    const size_t off = ((size_t)(i / HW) * C + c) * HW + i % HW;
    sdy += dy[off];
    sdyx += (double)dy[off] * (x[off] - mean) * invstd;
  }
  sdy = block_sum(sdy);
  sdyx = block_sum(sdyx);
  if (threadIdx.x == 0) {
    dbeta[c] = static_cast<float>(sdy);
    dgamma[c] = static_cast<float>(sdyx);
  }
  const float gm = gamma[c];
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) {
    const size_t off = ((size_t)(i / HW) * C + c) * HW + i % HW;
    dx[off] = m::bn_backward_elem(x[off], dy[off], gm, mean, invstd, sdy, sdyx, (double)count);
  }
}

}  // namespace

void CudaBackend::batchnorm_forward_train(const float* x, float* y, const float* gamma, const float* beta,
                                          float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                          int N, int C, int HW, float momentum, float eps, int block, bool relu,
                                          const float* add) {
  PCHECK(block == 1, "the CUDA backend keeps activations in NCHW (channel block " + std::to_string(block) + ")");
  if (!C) return;
  activate();
  bn_train_k<<<C, kThreads, 0, stream_>>>(x, y, gamma, beta, save_mean, save_invstd, running_mean, running_var, N, C,
                                          HW, momentum, eps);
  PCUDA_LAUNCH("bn_train_k");
  // The CPU fuses these; here each is one more pass.
  if (add) this->add(y, add, y, size_t(N) * C * HW);
  if (relu) activation_forward(Activation::ReLU, 0.f, y, y, size_t(N) * C * HW);
}

void CudaBackend::batchnorm_forward_eval(const float* x, float* y, const float* gamma, const float* beta,
                                         const float* running_mean, const float* running_var, int N, int C, int HW,
                                         float eps) {
  const size_t total = (size_t)N * C * HW;
  if (!total) return;
  activate();
  bn_eval_k<<<blocks_for(total), kThreads, 0, stream_>>>(x, y, gamma, beta, running_mean, running_var, total, C, HW,
                                                         eps);
  PCUDA_LAUNCH("bn_eval_k");
}

void CudaBackend::batchnorm_backward(const float* x, const float* dy, const float* gamma, const float* save_mean,
                                     const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C,
                                     int HW, int block, const float* relu_y, const float*) {
  PCHECK(block == 1, "the CUDA backend keeps activations in NCHW (channel block " + std::to_string(block) + ")");
  if (!C) return;
  activate();
  const size_t n = size_t(N) * C * HW;
  float* masked = relu_y && n ? allocate(n) : nullptr;  // dy * (relu_y > 0), then the plain backward
  if (masked) activation_backward(Activation::ReLU, 0.f, relu_y, relu_y, dy, masked, n);
  bn_backward_k<<<C, kThreads, 0, stream_>>>(x, masked ? masked : dy, gamma, save_mean, save_invstd, dx, dgamma, dbeta,
                                             N, C, HW);
  PCUDA_LAUNCH("bn_backward_k");
  if (masked) deallocate(masked, n);
}

}  // namespace perceptra::cuda
