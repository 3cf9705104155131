#pragma once
// The CUDA backend: cuBLAS for GEMM (row-major through the column-major
// operand swap), convolution as im2col/col2im kernels + cuBLAS over chunks of
// images, and one kernel per remaining op whose per-element body lives in
// cuda_math.h. One .cu per op family, named as the CPU twin (cuda_pool.cu <->
// cpu/cpu_pool.cpp, ...). All work of a device runs in order on its compute stream;
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

  void synchronize() override;
  // Every op but the fused one-channel first layer (fuses_conv_relu_maxpool
  // stays false, so no layer asks for it).
  bool supports(Op op) const override {
    return op != Op::conv2d_relu_maxpool_forward && op != Op::conv2d_relu_maxpool_backward;
  }

  // Every op of the list; each family's file is named in backend_ops.inc.
#define PERCEPTRA_OP(ret, name, args) ret name args override;
#include "core/backend/backend_ops.inc"

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
  // Sums the kReduceBlocks partials in d_scratch_ (fixed order) and returns
  // the total (cuda_elementwise.cu; mse in cuda_loss.cu uses it too).
  double finish_reduction();

  int index_;
  cudaStream_t stream_ = nullptr, copy_stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::unique_ptr<CachingAllocator> alloc_;
  PinnedStaging staging_, upload_staging_;
  cudaEvent_t upload_done_ = nullptr;
  std::mutex upload_mu_;
  float* ws_[2] = {};
  size_t ws_size_[2] = {};
  double* d_scratch_ = nullptr;  // per-block partial results (device)
  double* h_result_ = nullptr;   // pinned scalar result
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
