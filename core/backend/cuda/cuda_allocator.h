#pragma once
// Caching device allocator over plain cudaMalloc (never managed memory).
// Freed blocks go to a free list keyed by their rounded size and are handed
// out again without a cudaMalloc/cudaFree (both synchronise the device).
// Reuse is safe without events because every kernel of a device runs on its
// one compute stream, in order. The exception is the upload pool (blocks
// that the copy stream writes, see cuda_device.h): when such a block is freed
// an event is recorded on the compute stream, and the next upload into it
// waits for that event first.
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <cuda_runtime_api.h>

namespace perceptra::cuda {

struct AllocatorStats {
  size_t in_use = 0;  // bytes handed out (rounded sizes)
  size_t cached = 0;  // bytes held in free lists
  size_t peak_in_use = 0;
  int64_t device_mallocs = 0;  // cudaMalloc calls made (cache misses)
  int64_t reuses = 0;          // allocations served from the cache
};

// Size classes: multiples of 512 B up to 1 MiB, then four classes per power
// of two (at most 25 % slack). Pure function, tested on the host.
inline size_t round_allocation(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= (size_t(1) << 20)) return (bytes + 511) / 512 * 512;
  int top = 63 - __builtin_clzll(static_cast<unsigned long long>(bytes));
  size_t step = size_t(1) << (top - 2);
  return (bytes + step - 1) / step * step;
}

class CachingAllocator {
 public:
  CachingAllocator(int device, cudaStream_t compute);
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // Throws Error (naming sizes and the device) when the device is out of
  // memory even after returning the cache to the driver.
  void* allocate(size_t bytes, bool upload_pool = false);
  void release(void* p, size_t bytes);
  // Event the copy stream must wait for before writing block p (an upload
  // pool block freed earlier), or nullptr. Hand it back with recycle_event
  // once the wait is enqueued.
  cudaEvent_t take_reuse_event(void* p);
  void recycle_event(cudaEvent_t e);
  // Returns every cached block to the driver.
  void empty_cache();
  AllocatorStats stats();

 private:
  struct UploadBlock {
    void* ptr;
    cudaEvent_t freed;  // recorded on the compute stream at release
  };
  void* device_malloc(size_t bytes);
  void empty_cache_locked();
  cudaEvent_t new_event_locked();

  int device_;
  cudaStream_t compute_;
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  std::unordered_map<size_t, std::vector<UploadBlock>> upload_free_;
  std::unordered_map<void*, cudaEvent_t> upload_live_;  // live upload blocks -> pending reuse event
  std::vector<cudaEvent_t> spare_events_;
  AllocatorStats stats_;
};

}  // namespace perceptra::cuda
