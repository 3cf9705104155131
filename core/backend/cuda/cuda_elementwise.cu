// Elementwise ops, reductions and dropout of the CUDA backend
// (twin: cpu/cpu_elementwise.cpp).
#include "core/backend/cuda/cuda_kernel.cuh"
#include "core/tensor/error.h"

namespace perceptra::cuda {

namespace {

__global__ void fill_k(float* x, size_t n, float v) { GRID_STRIDE(i, n) x[i] = v; }
__global__ void add_k(const float* a, const float* b, float* out, size_t n) { GRID_STRIDE(i, n) out[i] = a[i] + b[i]; }
__global__ void mul_k(const float* a, const float* b, float* out, size_t n) { GRID_STRIDE(i, n) out[i] = a[i] * b[i]; }
__global__ void axpby_k(float alpha, const float* x, float beta, float* y, size_t n) {
  // beta == 0: y may hold garbage (uninitialised), never read it.
  if (beta == 0.f) {
    GRID_STRIDE(i, n) y[i] = alpha * x[i];
  } else {
    GRID_STRIDE(i, n) y[i] = alpha * x[i] + beta * y[i];
  }
}
__global__ void scale_k(float* x, float s, size_t n) { GRID_STRIDE(i, n) x[i] *= s; }
__global__ void normalize_channels_k(const float* x, float* out, const float* mean, const float* inv_std, size_t total,
                                     int C, int HW) {
  GRID_STRIDE(i, total) {
    const int c = static_cast<int>((i / HW) % C);
    out[i] = (x[i] - mean[c]) * inv_std[c];
  }
}
// mode 0: sum, 1: sum of squares, 2: count of non-finite values.
__global__ void reduce_partial_k(const float* x, size_t n, int mode, double* partial) {
  double s = 0;
  GRID_STRIDE(i, n) {
    const float v = x[i];
    s += mode == 0 ? (double)v : mode == 1 ? (double)v * v : (m::is_finite(v) ? 0.0 : 1.0);
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}
// One block: partial[0..count) -> *out (fixed order: deterministic).
__global__ void reduce_final_k(const double* partial, int count, double* out) {
  double s = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
  s = block_sum(s);
  if (threadIdx.x == 0) *out = s;
}
__global__ void dropout_k(const float* x, float* y, float* mask, size_t n, m::DropoutArgs a) {
  GRID_STRIDE(i, n) {
    const float mk = m::dropout_mask(a, i);
    mask[i] = mk;
    y[i] = x[i] * mk;
  }
}

}  // namespace

cudaError_t kernel_image_status() {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, fill_k);
}

void CudaBackend::fill(float* x, size_t n, float value) {
  if (!n) return;
  activate();
  fill_k<<<blocks_for(n), kThreads, 0, stream_>>>(x, n, value);
  PCUDA_LAUNCH("fill_k");
}

void CudaBackend::add(const float* a, const float* b, float* out, size_t n) {
  if (!n) return;
  activate();
  add_k<<<blocks_for(n), kThreads, 0, stream_>>>(a, b, out, n);
  PCUDA_LAUNCH("add_k");
}

void CudaBackend::mul(const float* a, const float* b, float* out, size_t n) {
  if (!n) return;
  activate();
  mul_k<<<blocks_for(n), kThreads, 0, stream_>>>(a, b, out, n);
  PCUDA_LAUNCH("mul_k");
}

void CudaBackend::axpby(float alpha, const float* x, float beta, float* y, size_t n) {
  if (!n) return;
  activate();
  axpby_k<<<blocks_for(n), kThreads, 0, stream_>>>(alpha, x, beta, y, n);
  PCUDA_LAUNCH("axpby_k");
}

void CudaBackend::scale(float* x, float s, size_t n) {
  if (!n) return;
  activate();
  scale_k<<<blocks_for(n), kThreads, 0, stream_>>>(x, s, n);
  PCUDA_LAUNCH("scale_k");
}

void CudaBackend::normalize_channels(const float* x, float* out, const float* mean, const float* inv_std, int N, int C,
                                     int HW) {
  const size_t total = (size_t)N * C * HW;
  if (!total) return;
  activate();
  normalize_channels_k<<<blocks_for(total), kThreads, 0, stream_>>>(x, out, mean, inv_std, total, C, HW);
  PCUDA_LAUNCH("normalize_channels_k");
}

void CudaBackend::reorder_channel_block(const float* x, float* y, int N, int C, int HW, int from, int to) {
  // activation_channel_block is 1 here: nothing blocked ever reaches CUDA.
  PCHECK(from == to, "the CUDA backend keeps activations in NCHW (channel block " + std::to_string(from) + " -> " +
                         std::to_string(to) + ")");
  copy(y, x, size_t(N) * C * HW);
}

double CudaBackend::finish_reduction() {
  reduce_final_k<<<1, kThreads, 0, stream_>>>(d_scratch_, kReduceBlocks, d_scratch_ + kReduceBlocks);
  PCUDA_LAUNCH("reduce_final_k");
  return fetch_result();
}

double CudaBackend::reduce(const float* x, size_t n, bool squares) {
  if (!n) return 0.0;
  activate();
  reduce_partial_k<<<kReduceBlocks, kThreads, 0, stream_>>>(x, n, squares ? 1 : 0, d_scratch_);
  PCUDA_LAUNCH("reduce_partial_k");
  return finish_reduction();
}

double CudaBackend::sum(const float* x, size_t n) { return reduce(x, n, false); }
double CudaBackend::sum_squares(const float* x, size_t n) { return reduce(x, n, true); }

bool CudaBackend::has_non_finite(const float* x, size_t n) {
  if (!n) return false;
  activate();
  reduce_partial_k<<<kReduceBlocks, kThreads, 0, stream_>>>(x, n, 2, d_scratch_);
  PCUDA_LAUNCH("reduce_partial_k");
  return finish_reduction() > 0;
}

void CudaBackend::dropout_forward(const float* x, float* y, float* mask, size_t n, float p, uint64_t seed) {
  if (!n) return;
  activate();
  dropout_k<<<blocks_for(n), kThreads, 0, stream_>>>(x, y, mask, n, m::make_dropout_args(p, seed));
  PCUDA_LAUNCH("dropout_k");
}

}  // namespace perceptra::cuda
