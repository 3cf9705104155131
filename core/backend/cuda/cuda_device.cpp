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

Tensor upload_batch(const float* host, const Shape& shape, Device device) {
  PCHECK(device.is_cuda(), "upload_batch: target device " + device.str() + " is not a CUDA device");
  CudaBackend& b = backend_at(device.index);
  Tensor t;
  {
    struct Flag {  // restores the flag even when allocation throws
      Flag() { upload_pool_flag() = true; }
      ~Flag() { upload_pool_flag() = false; }
    } flag;
    t = Tensor::empty(shape, device);
  }
  b.upload_async(t.data(), host, static_cast<size_t>(t.numel()));
  return t;
}

}  // namespace perceptra::cuda
