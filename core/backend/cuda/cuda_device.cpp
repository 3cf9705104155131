#include "core/backend/cuda/cuda_device.h"

#include "core/backend/cuda/cuda_backend.h"
#include "core/backend/cuda/cuda_check.h"
#include "core/tensor/error.h"

namespace perceptra::cuda {

CudaBackend& backend_at(int index);  // cuda_backend.cpp

DeviceInfo device_info(int index) {
  CudaBackend& b = backend_at(index);  // throws with the probe's reason
  b.activate();
  cudaDeviceProp prop{};
  PCUDA(cudaGetDeviceProperties(&prop, index));
  DeviceInfo d;
  d.index = index;
  d.name = prop.name;
  d.major = prop.major;
  d.minor = prop.minor;
  d.total_memory = prop.totalGlobalMem;
  d.multiprocessors = prop.multiProcessorCount;
  return d;
}

MemoryStats memory_stats(int index) {
  AllocatorStats s = backend_at(index).allocator().stats();
  return {s.in_use, s.cached, s.peak_in_use, s.device_mallocs, s.reuses};
}

void release_cached_memory(int index) {
  CudaBackend& b = backend_at(index);
  b.activate();
  b.allocator().empty_cache();
}

UploadPoolScope::UploadPoolScope() { upload_pool_flag() = true; }
UploadPoolScope::~UploadPoolScope() { upload_pool_flag() = false; }

void upload_async(Device device, float* dst, const float* host, size_t n) {
  PCHECK(device.is_cuda(), "upload_batch: target device " + device.str() + " is not a CUDA device");
  backend_at(device.index).upload_async(dst, host, n);
}

}  // namespace perceptra::cuda
