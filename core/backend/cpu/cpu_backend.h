#pragma once
// The CPU reference backend: oneDNN's sgemm for dense algebra (Debian's
// OpenBLAS picks a slow "Prescott" kernel on this CPU; oneDNN measured ~10x
// faster), im2col convolution on top of it, and plain OpenMP loops for the
// rest. Readable first: it is the reference the CUDA backend is held to.
#include "core/backend/backend.h"

namespace perceptra {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  std::string describe() const override;

  float* allocate(size_t n) override;
  void deallocate(float* p, size_t n) override;
  void copy_from_host(float* dst, const float* src, size_t n) override;
  void copy_to_host(float* dst, const float* src, size_t n) override;
  void copy(float* dst, const float* src, size_t n) override;
  void fill(float* x, size_t n, float value) override;

  void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
            const float* B, int ldb, float beta, float* C, int ldc) override;
  void add_bias_rows(float* y, const float* bias, int rows, int cols) override;
  void sum_rows(const float* x, float* out, int rows, int cols, float beta) override;

  void conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                      float* y) override;
  void conv2d_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override;
  void conv2d_forward_relu(const ConvGeometry& g, const float* x, const float* w,
                           const float* bias, float* y) override;

  void maxpool2d_forward(const PoolGeometry& g, const float* x, float* y) override;
  bool maxpool_has_argmax(const PoolGeometry& g) const override;
  void maxpool2d_forward_argmax(const PoolGeometry& g, const float* x, float* y,
                                float* argmax) override;
  void maxpool2d_backward_argmax(const PoolGeometry& g, const float* argmax, const float* dy,
                                 float* dx) override;
  void maxpool2d_backward(const PoolGeometry& g, const float* x, const float* y, const float* dy,
                          float* dx) override;
  void avgpool2d_forward(const PoolGeometry& g, const float* x, float* y) override;
  void avgpool2d_backward(const PoolGeometry& g, const float* dy, float* dx) override;
  void global_avgpool_forward(const float* x, float* y, int planes, int hw) override;
  void global_avgpool_backward(const float* dy, float* dx, int planes, int hw) override;

  void activation_forward(Activation a, float alpha, const float* x, float* y, size_t n) override;
  void activation_backward(Activation a, float alpha, const float* x, const float* y,
                           const float* dy, float* dx, size_t n) override;

  void softmax_xent_forward(const float* logits, const float* labels, float* probs, float* loss,
                            int N, int C, float smoothing) override;
  void softmax_xent_backward(const float* probs, const float* labels, float* dlogits, int N, int C,
                             float smoothing, float scale) override;
  void softmax(const float* x, float* y, int N, int C) override;
  double mse(const float* p, const float* t, float* dp, size_t n) override;

  void batchnorm_forward_train(const float* x, float* y, const float* gamma, const float* beta,
                               float* save_mean, float* save_invstd, float* running_mean,
                               float* running_var, int N, int C, int HW, float momentum,
                               float eps) override;
  void batchnorm_forward_eval(const float* x, float* y, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var, int N, int C,
                              int HW, float eps) override;
  void batchnorm_backward(const float* x, const float* dy, const float* gamma,
                          const float* save_mean, const float* save_invstd, float* dx,
                          float* dgamma, float* dbeta, int N, int C, int HW) override;

  void dropout_forward(const float* x, float* y, float* mask, size_t n, float p,
                       uint64_t seed) override;

  void add(const float* a, const float* b, float* out, size_t n) override;
  void mul(const float* a, const float* b, float* out, size_t n) override;
  void axpby(float alpha, const float* x, float beta, float* y, size_t n) override;
  void scale(float* x, float s, size_t n) override;
  void normalize_channels(const float* x, float* out, const float* mean, const float* inv_std,
                          int N, int C, int HW) override;
  double sum(const float* x, size_t n) override;
  double sum_squares(const float* x, size_t n) override;
  bool has_non_finite(const float* x, size_t n) override;

  void sgd_update(float* w, const float* g, float* v, size_t n, float lr, float momentum,
                  float dampening, float weight_decay, bool nesterov, bool first_step) override;
  void adam_update(float* w, const float* g, float* m, float* v, size_t n, float lr, float beta1,
                   float beta2, float eps, float weight_decay, bool decoupled,
                   int64_t step) override;
};

CpuBackend& cpu_backend();

// Row-major sgemm on host memory through oneDNN (used by the backend and
// benchmarks, which report its GFLOP/s).
void cpu_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc);

// Freed host blocks of 64 KiB and more are cached by size (bounded, 256 MiB)
// and reused by later allocations of the same size: no page faults per batch.
size_t cpu_cached_bytes();
void cpu_release_cached_memory();

// Threads our kernels and oneDNN use (one OpenMP pool shared by both).
int cpu_threads();
void set_cpu_threads(int n);

}  // namespace perceptra
