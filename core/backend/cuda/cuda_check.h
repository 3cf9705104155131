#pragma once
// Error checking for every CUDA runtime and cuBLAS call: a failure becomes a
// perceptra::Error naming the call, file:line and the runtime's error name,
// text and code, e.g.
//   "CUDA error: cudaMalloc(&p, bytes) at core/backend/cuda/cuda_allocator.cpp:58
//    failed: out of memory (cudaErrorMemoryAllocation, code 2)"
// Internal to core/backend/cuda (needs the CUDA headers).
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

namespace perceptra::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* call, const char* file, int line);

inline void check_cuda(cudaError_t err, const char* call, const char* file, int line) {
  if (err != cudaSuccess) throw_cuda_error(err, call, file, line);
}
inline void check_cublas(cublasStatus_t st, const char* call, const char* file, int line) {
  if (st != CUBLAS_STATUS_SUCCESS) throw_cublas_error(st, call, file, line);
}

}  // namespace perceptra::cuda

#define PCUDA(call) ::perceptra::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define PCUBLAS(call) ::perceptra::cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors surface here, with the kernel's name.
#define PCUDA_LAUNCH(kernel_name) \
  ::perceptra::cuda::check_cuda(cudaGetLastError(), "launch " kernel_name, __FILE__, __LINE__)
