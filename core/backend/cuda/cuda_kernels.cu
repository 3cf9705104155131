// Kernels of the CUDA backend except convolution and pooling
// (cuda_conv.cu). Each is a grid-stride loop around a body in cuda_math.h.
#include "core/backend/cuda/cuda_backend.h"
#include "core/backend/cuda/cuda_check.h"
#include "core/backend/cuda/cuda_math.h"
#include "core/backend/cuda/cuda_reduce.cuh"

namespace perceptra::cuda {

namespace m = ::perceptra::cudamath;

#define GRID_STRIDE(i, n) \
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)

namespace {

__global__ void fill_k(float* x, size_t n, float v) { GRID_STRIDE(i, n) x[i] = v; }

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

__global__ void add_k(const float* a, const float* b, float* out, size_t n) {
  GRID_STRIDE(i, n) out[i] = a[i] + b[i];
}
__global__ void mul_k(const float* a, const float* b, float* out, size_t n) {
  GRID_STRIDE(i, n) out[i] = a[i] * b[i];
}
__global__ void axpby_k(float alpha, const float* x, float beta, float* y, size_t n) {
  // beta == 0: y may hold garbage (uninitialised), never read it.
  if (beta == 0.f) {
    GRID_STRIDE(i, n) y[i] = alpha * x[i];
  } else {
    GRID_STRIDE(i, n) y[i] = alpha * x[i] + beta * y[i];
  }
}
__global__ void scale_k(float* x, float s, size_t n) { GRID_STRIDE(i, n) x[i] *= s; }

__global__ void normalize_channels_k(const float* x, float* out, const float* mean,
                                     const float* inv_std, size_t total, int C, int HW) {
  GRID_STRIDE(i, total) {
    const int c = static_cast<int>((i / HW) % C);
    out[i] = (x[i] - mean[c]) * inv_std[c];
  }
}

__global__ void act_forward_k(Activation a, float alpha, const float* x, float* y, size_t n) {
  GRID_STRIDE(i, n) y[i] = m::activation_forward(a, alpha, x[i]);
}
__global__ void act_backward_k(Activation a, float alpha, const float* x, const float* y,
                               const float* dy, float* dx, size_t n) {
  // y is only read by sigmoid/tanh (callers may pass null otherwise).
  const bool need_y = a == Activation::Sigmoid || a == Activation::Tanh;
  GRID_STRIDE(i, n) dx[i] = m::activation_backward(a, alpha, x[i], need_y ? y[i] : 0.f, dy[i]);
}

__global__ void softmax_k(const float* x, float* y, int N, int C) {
  GRID_STRIDE(r, (size_t)N) m::softmax_row(x + r * C, y + r * C, C);
}
__global__ void xent_forward_k(const float* logits, const float* labels, float* probs, float* loss,
                               int N, int C, float smoothing) {
  GRID_STRIDE(r, (size_t)N)
  loss[r] = m::softmax_xent_row(logits + r * C, labels[r], probs + r * C, C, smoothing);
}
__global__ void xent_backward_k(const float* probs, const float* labels, float* dlogits, int N,
                                int C, float smoothing, float scale) {
  GRID_STRIDE(i, (size_t)N * C) {
    const size_t r = i / C;
    dlogits[i] = m::softmax_xent_grad(probs[i], static_cast<int>(i % C), labels[r], C, smoothing, scale);
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
__global__ void mse_partial_k(const float* p, const float* t, float* dp, size_t n, float g,
                              double* partial) {
  double s = 0;
  GRID_STRIDE(i, n) {
    const float d = p[i] - t[i];
    s += (double)d * d;
    if (dp) dp[i] = g * d;
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

// One block per channel: two-pass statistics, then the normalised output.
__global__ void bn_train_k(const float* x, float* y, const float* gamma, const float* beta,
                           float* save_mean, float* save_invstd, float* running_mean,
                           float* running_var, int N, int C, int HW, float momentum, float eps) {
  const int c = blockIdx.x;
  const size_t count = (size_t)N * HW;
  double s = 0;
  for (size_t i = threadIdx.x; i < count; i += blockDim.x)
    s += x[((size_t)(i / HW) * C + c) * HW + i % HW];
  const double mean = block_sum(s) / (double)count;
  double ss = 0;
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) {
    double d = x[((size_t)(i / HW) * C + c) * HW + i % HW] - mean;
    ss += d * d;
  }
  ss = block_sum(ss);
  const m::BnChannel st =
      m::bn_channel_stats(mean, ss, (double)count, eps, momentum, running_mean[c], running_var[c]);
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

__global__ void bn_eval_k(const float* x, float* y, const float* gamma, const float* beta,
                          const float* rm, const float* rv, size_t total, int C, int HW, float eps) {
  GRID_STRIDE(i, total) {
    const int c = static_cast<int>((i / HW) % C);
    const float a = gamma[c] / sqrtf(rv[c] + eps);
    const float b = beta[c] - rm[c] * a;
    y[i] = x[i] * a + b;
  }
}

__global__ void bn_backward_k(const float* x, const float* dy, const float* gamma,
                              const float* save_mean, const float* save_invstd, float* dx,
                              float* dgamma, float* dbeta, int N, int C, int HW) {
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

__global__ void dropout_k(const float* x, float* y, float* mask, size_t n, m::DropoutArgs a) {
  GRID_STRIDE(i, n) {
    const float mk = m::dropout_mask(a, i);
    mask[i] = mk;
    y[i] = x[i] * mk;
  }
}

__global__ void sgd_k(float* w, const float* g, float* v, size_t n, m::SgdArgs a) {
  GRID_STRIDE(i, n) m::sgd_step(w, g, v, i, a);
}
__global__ void adam_k(float* w, const float* g, float* mm, float* v, size_t n, m::AdamArgs a) {
  GRID_STRIDE(i, n) m::adam_step(w, g, mm, v, i, a);
}

}  // namespace

cudaError_t kernel_image_status() {
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes(&attr, fill_k);
}

// ---- memory --------------------------------------------------------------------

void CudaBackend::fill(float* x, size_t n, float value) {
  if (!n) return;
  activate();
  fill_k<<<blocks_for(n), kThreads, 0, stream_>>>(x, n, value);
  PCUDA_LAUNCH("fill_k");
}

// ---- dense algebra helpers ------------------------------------------------------

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

// ---- activations -----------------------------------------------------------------

void CudaBackend::activation_forward(Activation a, float alpha, const float* x, float* y,
                                     size_t n) {
  if (!n) return;
  activate();
  act_forward_k<<<blocks_for(n), kThreads, 0, stream_>>>(a, alpha, x, y, n);
  PCUDA_LAUNCH("act_forward_k");
}

void CudaBackend::activation_backward(Activation a, float alpha, const float* x, const float* y,
                                      const float* dy, float* dx, size_t n) {
  if (!n) return;
  activate();
  act_backward_k<<<blocks_for(n), kThreads, 0, stream_>>>(a, alpha, x, y, dy, dx, n);
  PCUDA_LAUNCH("act_backward_k");
}

// ---- losses -------------------------------------------------------------------------

void CudaBackend::softmax_xent_forward(const float* logits, const float* labels, float* probs,
                                       float* loss, int N, int C, float smoothing) {
  if (!N) return;
  activate();
  xent_forward_k<<<blocks_for(N), kThreads, 0, stream_>>>(logits, labels, probs, loss, N, C,
                                                          smoothing);
  PCUDA_LAUNCH("xent_forward_k");
}

void CudaBackend::softmax_xent_backward(const float* probs, const float* labels, float* dlogits,
                                        int N, int C, float smoothing, float scale) {
  const size_t total = (size_t)N * C;
  if (!total) return;
  activate();
  xent_backward_k<<<blocks_for(total), kThreads, 0, stream_>>>(probs, labels, dlogits, N, C,
                                                               smoothing, scale);
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
  reduce_final_k<<<1, kThreads, 0, stream_>>>(d_scratch_, kReduceBlocks, d_scratch_ + kReduceBlocks);
  PCUDA_LAUNCH("reduce_final_k");
  return fetch_result() / n;
}

// ---- batch normalisation ---------------------------------------------------------

void CudaBackend::batchnorm_forward_train(const float* x, float* y, const float* gamma,
                                          const float* beta, float* save_mean, float* save_invstd,
                                          float* running_mean, float* running_var, int N, int C,
                                          int HW, float momentum, float eps) {
  if (!C) return;
  activate();
  bn_train_k<<<C, kThreads, 0, stream_>>>(x, y, gamma, beta, save_mean, save_invstd, running_mean,
                                          running_var, N, C, HW, momentum, eps);
  PCUDA_LAUNCH("bn_train_k");
}

void CudaBackend::batchnorm_forward_eval(const float* x, float* y, const float* gamma,
                                         const float* beta, const float* running_mean,
                                         const float* running_var, int N, int C, int HW,
                                         float eps) {
  const size_t total = (size_t)N * C * HW;
  if (!total) return;
  activate();
  bn_eval_k<<<blocks_for(total), kThreads, 0, stream_>>>(x, y, gamma, beta, running_mean,
                                                         running_var, total, C, HW, eps);
  PCUDA_LAUNCH("bn_eval_k");
}

void CudaBackend::batchnorm_backward(const float* x, const float* dy, const float* gamma,
                                     const float* save_mean, const float* save_invstd, float* dx,
                                     float* dgamma, float* dbeta, int N, int C, int HW) {
  if (!C) return;
  activate();
  bn_backward_k<<<C, kThreads, 0, stream_>>>(x, dy, gamma, save_mean, save_invstd, dx, dgamma,
                                             dbeta, N, C, HW);
  PCUDA_LAUNCH("bn_backward_k");
}

void CudaBackend::dropout_forward(const float* x, float* y, float* mask, size_t n, float p,
                                  uint64_t seed) {
  if (!n) return;
  activate();
  dropout_k<<<blocks_for(n), kThreads, 0, stream_>>>(x, y, mask, n, m::make_dropout_args(p, seed));
  PCUDA_LAUNCH("dropout_k");
}

// ---- elementwise and reductions ------------------------------------------------

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

void CudaBackend::normalize_channels(const float* x, float* out, const float* mean,
                                     const float* inv_std, int N, int C, int HW) {
  const size_t total = (size_t)N * C * HW;
  if (!total) return;
  activate();
  normalize_channels_k<<<blocks_for(total), kThreads, 0, stream_>>>(x, out, mean, inv_std, total,
                                                                    C, HW);
  PCUDA_LAUNCH("normalize_channels_k");
}

double CudaBackend::reduce(const float* x, size_t n, bool squares) {
  if (!n) return 0.0;
  activate();
  reduce_partial_k<<<kReduceBlocks, kThreads, 0, stream_>>>(x, n, squares ? 1 : 0, d_scratch_);
  PCUDA_LAUNCH("reduce_partial_k");
  reduce_final_k<<<1, kThreads, 0, stream_>>>(d_scratch_, kReduceBlocks, d_scratch_ + kReduceBlocks);
  PCUDA_LAUNCH("reduce_final_k");
  return fetch_result();
}

double CudaBackend::sum(const float* x, size_t n) { return reduce(x, n, false); }
double CudaBackend::sum_squares(const float* x, size_t n) { return reduce(x, n, true); }

bool CudaBackend::has_non_finite(const float* x, size_t n) {
  if (!n) return false;
  activate();
  reduce_partial_k<<<kReduceBlocks, kThreads, 0, stream_>>>(x, n, 2, d_scratch_);
  PCUDA_LAUNCH("reduce_partial_k");
  reduce_final_k<<<1, kThreads, 0, stream_>>>(d_scratch_, kReduceBlocks, d_scratch_ + kReduceBlocks);
  PCUDA_LAUNCH("reduce_final_k");
  return fetch_result() > 0;
}

// ---- optimizer updates -------------------------------------------------------------

void CudaBackend::sgd_update(float* w, const float* g, float* v, size_t n, float lr,
                             float momentum, float dampening, float weight_decay, bool nesterov,
                             bool first_step) {
  if (!n) return;
  activate();
  m::SgdArgs a{lr, momentum, dampening, weight_decay, nesterov, first_step};
  sgd_k<<<blocks_for(n), kThreads, 0, stream_>>>(w, g, v, n, a);
  PCUDA_LAUNCH("sgd_k");
}

void CudaBackend::adam_update(float* w, const float* g, float* mm, float* v, size_t n, float lr,
                              float beta1, float beta2, float eps, float weight_decay,
                              bool decoupled, int64_t step) {
  if (!n) return;
  activate();
  m::AdamArgs a = m::make_adam_args(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  adam_k<<<blocks_for(n), kThreads, 0, stream_>>>(w, g, mm, v, n, a);
  PCUDA_LAUNCH("adam_k");
}

}  // namespace perceptra::cuda
