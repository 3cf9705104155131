#pragma once
// What a trainer or the GUI may ask of the CUDA backend beyond the Backend
// interface. No CUDA headers here: this compiles in every build, and the
// functions are defined only when the build has the CUDA backend
// (PERCEPTRA_WITH_CUDA is then defined for users of perceptra_backend).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor/device.h"

namespace perceptra::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;          // e.g. "NVIDIA A100-SXM4-40GB"
  int major = 0, minor = 0;  // compute capability
  size_t total_memory = 0;   // bytes
  int multiprocessors = 0;
};
// Throws Error when the device cannot be used.
DeviceInfo device_info(int index);

struct MemoryStats {
  size_t in_use = 0;  // bytes held by live tensors and workspaces
  size_t cached = 0;  // bytes in the allocator's free lists
  size_t peak_in_use = 0;
  int64_t device_mallocs = 0;  // cudaMalloc calls (cache misses)
  int64_t reuses = 0;          // allocations served from the cache
};
MemoryStats memory_stats(int index);
// Returns cached blocks to the driver (e.g. between runs).
void release_cached_memory(int index);

// The pieces of upload_batch (core/tensor/cuda_upload.h), which builds the
// tensor: while an UploadPoolScope lives, this thread's device allocations
// come from the allocator's upload pool; upload_async copies host -> device
// on the device's copy stream and returns once `host` may be reused.
class UploadPoolScope {
 public:
  UploadPoolScope();
  ~UploadPoolScope();
  UploadPoolScope(const UploadPoolScope&) = delete;
  UploadPoolScope& operator=(const UploadPoolScope&) = delete;
};
void upload_async(Device device, float* dst, const float* host, size_t n);

}  // namespace perceptra::cuda
