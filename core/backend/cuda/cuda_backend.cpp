// Host side of the CUDA backend: device setup, memory and copies, the probe
// and the registry behind cuda_backend(i) (twin: cpu/cpu_backend.cpp).
#include "core/backend/cuda/cuda_backend.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/backend/cuda/cuda_check.h"
#include "core/backend/cuda_entry.h"
#include "core/tensor/error.h"

namespace perceptra::cuda {

// Defined in cuda_elementwise.cu: whether this binary holds kernel code the
// current device can run (SASS for its architecture or PTX to JIT).
cudaError_t kernel_image_status();

bool& upload_pool_flag() {
  thread_local bool flag = false;
  return flag;
}

// ---- pinned staging ----------------------------------------------------------

PinnedStaging::~PinnedStaging() = default;  // pinned buffers live as long as the process

void PinnedStaging::ensure() {
  if (buf_[0]) return;
  for (int i = 0; i < kBuffers; ++i) {
    PCUDA(cudaHostAlloc(reinterpret_cast<void**>(&buf_[i]), kChunkFloats * sizeof(float), cudaHostAllocPortable));
    PCUDA(cudaEventCreateWithFlags(&done_[i], cudaEventDisableTiming));
  }
}

void PinnedStaging::upload(float* dst, const float* src, size_t n, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  ensure();
  for (size_t off = 0; off < n; off += kChunkFloats) {
    const size_t len = std::min(kChunkFloats, n - off);
    const int b = next_;
    next_ = (next_ + 1) % kBuffers;
    PCUDA(cudaEventSynchronize(done_[b]));  // its previous DMA has finished
    std::memcpy(buf_[b], src + off, len * sizeof(float));
    PCUDA(cudaMemcpyAsync(dst + off, buf_[b], len * sizeof(float), cudaMemcpyHostToDevice, stream));
    PCUDA(cudaEventRecord(done_[b], stream));
  }
}

void PinnedStaging::download(float* dst, const float* src, size_t n, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  ensure();
  for (size_t off = 0; off < n; off += kChunkFloats) {
    const size_t len = std::min(kChunkFloats, n - off);
    const int b = next_;
    next_ = (next_ + 1) % kBuffers;
    PCUDA(cudaEventSynchronize(done_[b]));
    PCUDA(cudaMemcpyAsync(buf_[b], src + off, len * sizeof(float), cudaMemcpyDeviceToHost, stream));
    PCUDA(cudaStreamSynchronize(stream));
    std::memcpy(dst + off, buf_[b], len * sizeof(float));
  }
}

// ---- backend -------------------------------------------------------------------

CudaBackend::CudaBackend(int index) : index_(index) {
  activate();
  cudaDeviceProp prop{};
  PCUDA(cudaGetDeviceProperties(&prop, index_));
  name_ = prop.name;
  cc_major_ = prop.major;
  cc_minor_ = prop.minor;
  total_mem_ = prop.totalGlobalMem;
  // Non-blocking streams: neither synchronises with the legacy default stream.
  PCUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  PCUDA(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
  PCUDA(cudaEventCreateWithFlags(&upload_done_, cudaEventDisableTiming));
  PCUBLAS(cublasCreate(&cublas_));
  PCUBLAS(cublasSetStream(cublas_, stream_));
  // Plain FP32 (no TF32 tensor-core rounding) so results stay comparable
  // with the CPU reference.
  PCUBLAS(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));
  PCUDA(cudaMalloc(reinterpret_cast<void**>(&d_scratch_), (kReduceBlocks + 1) * sizeof(double)));
  PCUDA(cudaHostAlloc(reinterpret_cast<void**>(&h_result_), sizeof(double), cudaHostAllocPortable));
  alloc_ = std::make_unique<CachingAllocator>(index_, stream_);
}

// Backends live for the whole process (see cuda_backend()); tearing CUDA
// objects down during static destruction races the runtime's own shutdown.
CudaBackend::~CudaBackend() = default;

namespace {
// This thread's current CUDA device as last set by us (-1: unknown). Every
// cudaSetDevice in this file goes through use_device() to keep it true.
thread_local int t_current_device = -1;
void use_device(int index) {
  if (t_current_device != index) {
    PCUDA(cudaSetDevice(index));
    t_current_device = index;
  }
}
}  // namespace

void CudaBackend::activate() const { use_device(index_); }

std::string CudaBackend::describe() const {
  int cublas_version = 0;
  cublasGetVersion(cublas_, &cublas_version);
  return "cuda:" + std::to_string(index_) + " (" + name_ + ", sm_" + std::to_string(cc_major_) +
         std::to_string(cc_minor_) + ", " + std::to_string(total_mem_ >> 20) + " MiB; cuBLAS " +
         std::to_string(cublas_version / 10000) + "." + std::to_string(cublas_version / 100 % 100) +
         " sgemm, im2col convolution)";
}

float* CudaBackend::allocate(size_t n) {
  activate();
  return static_cast<float*>(alloc_->allocate(n * sizeof(float), upload_pool_flag()));
}

void CudaBackend::deallocate(float* p, size_t n) {
  // Called from Storage's destructor: must not throw. A failure here (the
  // runtime shutting down at exit, a dead context) can only leak the block.
  try {
    activate();
    alloc_->release(p, n * sizeof(float));
  } catch (const Error&) {}
}

void CudaBackend::copy_from_host(float* dst, const float* src, size_t n) {
  if (!n) return;
  activate();
  staging_.upload(dst, src, n, stream_);
}

void CudaBackend::copy_to_host(float* dst, const float* src, size_t n) {
  if (!n) return;
  activate();
  staging_.download(dst, src, n, stream_);
}

void CudaBackend::copy(float* dst, const float* src, size_t n) {
  if (!n || dst == src) return;
  activate();
  PCUDA(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::synchronize() {
  activate();
  PCUDA(cudaStreamSynchronize(stream_));
}

void CudaBackend::upload_async(float* dst, const float* src, size_t n) {
  activate();
  std::lock_guard<std::mutex> lock(upload_mu_);
  if (cudaEvent_t reuse = alloc_->take_reuse_event(dst)) {
    // The block last served a tensor whose kernels may still be queued.
    PCUDA(cudaStreamWaitEvent(copy_stream_, reuse, 0));
    alloc_->recycle_event(reuse);
  }
  if (n) upload_staging_.upload(dst, src, n, copy_stream_);
  PCUDA(cudaEventRecord(upload_done_, copy_stream_));
  PCUDA(cudaStreamWaitEvent(stream_, upload_done_, 0));
}

float* CudaBackend::workspace(int slot, size_t n) {
  if (ws_size_[slot] < n) {
    // Stream order makes handing the old block back safe right away.
    if (ws_[slot]) alloc_->release(ws_[slot], ws_size_[slot] * sizeof(float));
    ws_[slot] = static_cast<float*>(alloc_->allocate(n * sizeof(float)));
    ws_size_[slot] = n;
  }
  return ws_[slot];
}

double CudaBackend::fetch_result() {
  PCUDA(cudaMemcpyAsync(h_result_, d_scratch_ + kReduceBlocks, sizeof(double), cudaMemcpyDeviceToHost, stream_));
  PCUDA(cudaStreamSynchronize(stream_));
  return *h_result_;
}

// ---- registry ------------------------------------------------------------------

namespace {
std::mutex registry_mu;
std::vector<CudaBackend*> registry;  // never freed: see ~CudaBackend

std::string driver_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}
}  // namespace

CudaBackend& backend_at(int index) {
  CudaProbe probe = probe_cuda();
  if (probe.device_count == 0) throw Error("CUDA: " + probe.reason);
  if (index < 0 || index >= probe.device_count)
    throw Error("CUDA: cuda:" + std::to_string(index) + " does not exist (" + std::to_string(probe.device_count) +
                " usable device(s))");
  std::lock_guard<std::mutex> lock(registry_mu);
  if (registry.size() < static_cast<size_t>(probe.device_count)) registry.resize(probe.device_count, nullptr);
  if (!registry[index]) registry[index] = new CudaBackend(index);
  return *registry[index];
}

CudaProbe probe_devices() {
  CudaProbe p;
  p.compiled = true;
  int driver = 0, runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    if (driver == 0)
      p.reason = "no device (driver not installed)";
    else if (err == cudaErrorInsufficientDriver)
      p.reason = "no device (driver version insufficient: the driver supports CUDA " + driver_text(driver) +
                 ", this build needs " + driver_text(runtime) + ")";
    else if (err == cudaErrorNoDevice)
      p.reason = "no device (no CUDA-capable device is detected)";
    else
      p.reason = std::string("no device (") + cudaGetErrorString(err) + ")";
    return p;
  }
  if (count == 0) {
    p.reason = "no device (no CUDA-capable device is detected)";
    return p;
  }
  // Devices count as usable from cuda:0 up to the first that cannot run our
  // kernels (too old an architecture for the compiled SASS/PTX).
  int usable = 0;
  for (int i = 0; i < count; ++i) {
    cudaError_t e = cudaSetDevice(i);
    if (e == cudaSuccess) e = kernel_image_status();
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      if (usable == 0) {
        cudaDeviceProp prop{};
        std::string what =
            cudaGetDeviceProperties(&prop, i) == cudaSuccess
                ? std::string(prop.name) + ", sm_" + std::to_string(prop.major) + std::to_string(prop.minor)
                : "cuda:" + std::to_string(i);
        (void)cudaGetLastError();
        p.reason = "device unusable (" + what + ": " + cudaGetErrorString(e) + ")";
      }
      break;
    }
    ++usable;
  }
  cudaSetDevice(0);
  (void)cudaGetLastError();
  t_current_device = -1;  // the loop above moved it behind use_device()'s back
  p.device_count = usable;
  return p;
}

}  // namespace perceptra::cuda

namespace perceptra {
CudaProbe cuda_probe_impl() { return cuda::probe_devices(); }
Backend& cuda_backend(int index) { return cuda::backend_at(index); }
}  // namespace perceptra
