#pragma once
// The CUDA backend: cuBLAS for GEMM (row-major through the column-major
// operand swap), convolution as im2col/col2im kernels + cuBLAS over chunks of
// images, and one kernel per remaining op whose per-element body lives in
// cuda_math.h. All work of a device runs in order on its compute stream;
// uploads from loader threads use a separate copy stream (cuda_device.h).
//
// Threading: memory and copy operations may be called from any thread; the
// compute operations (everything else) from one thread at a time, which is
// how the Trainer uses a backend.
// Internal to core/backend/cuda (needs the CUDA headers).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_allocator.h"

namespace perceptra::cuda {

// A small ring of pinned host buffers; each chunk's event says when its DMA
// is done so the buffer can be refilled.
class PinnedStaging {
 public:
  static constexpr size_t kChunkFloats = size_t(1) << 20;  // 4 MiB per buffer
  static constexpr int kBuffers = 2;
  ~PinnedStaging();
  // Host -> device through the ring on `stream`; returns once src may be reused.
  void upload(float* dst, const float* src, size_t n, cudaStream_t stream);
  // Device -> host, synchronous.
  void download(float* dst, const float* src, size_t n, cudaStream_t stream);

 private:
  void ensure();
  std::mutex mu_;
  float* buf_[kBuffers] = {};
  cudaEvent_t done_[kBuffers] = {};
  int next_ = 0;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index);
  ~CudaBackend() override;
  Device device() const override { return Device::cuda(index_); }
  std::string describe() const override;

  float* allocate(size_t n) override;
  void deallocate(float* p, size_t n) override;
  void copy_from_host(float* dst, const float* src, size_t n) override;
  void copy_to_host(float* dst, const float* src, size_t n) override;
  void copy(float* dst, const float* src, size_t n) override;
  void fill(float* x, size_t n, float value) override;
  void synchronize() override;

  void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
            const float* B, int ldb, float beta, float* C, int ldc) override;
  void add_bias_rows(float* y, const float* bias, int rows, int cols) override;
  void sum_rows(const float* x, float* out, int rows, int cols, float beta) override;

  void conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                      float* y) override;
  void conv2d_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override;

  void maxpool2d_forward(const PoolGeometry& g, const float* x, float* y) override;
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

  // ---- for cuda_device.cpp -------------------------------------------------
  int index() const { return index_; }
  cudaStream_t stream() const { return stream_; }
  CachingAllocator& allocator() { return *alloc_; }
  // Upload on the copy stream (see cuda_device.h for the ordering contract).
  void upload_async(float* dst, const float* src, size_t n);
  // Makes this thread's current device ours (cheap when it already is).
  void activate() const;

 private:
  // Scratch device buffer `slot` of at least n floats, reused across calls.
  float* workspace(int slot, size_t n);
  // Sum (squares=false) or sum of squares of x, in double on the device.
  double reduce(const float* x, size_t n, bool squares);
  // Waits for the stream and returns the host copy of the device scalar result.
  double fetch_result();

  int index_;
  cudaStream_t stream_ = nullptr, copy_stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::unique_ptr<CachingAllocator> alloc_;
  PinnedStaging staging_, upload_staging_;
  cudaEvent_t upload_done_ = nullptr;
  std::mutex upload_mu_;
  float* ws_[2] = {};
  size_t ws_size_[2] = {};
  double* d_scratch_ = nullptr;   // per-block partial results (device)
  double* h_result_ = nullptr;    // pinned scalar result
  static constexpr int kReduceBlocks = 256;
  std::string name_;
  int cc_major_ = 0, cc_minor_ = 0;
  size_t total_mem_ = 0;
};

// Set (per thread) by upload_batch while it allocates its tensor, so the
// block comes from the allocator's upload pool.
bool& upload_pool_flag();

// One launch shape for the grid-stride kernels.
constexpr int kThreads = 256;
inline int blocks_for(size_t n) {
  size_t b = (n + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  return static_cast<int>(b > 65535 ? 65535 : b);
}

}  // namespace perceptra::cuda
