#include "core/backend/cuda/cuda_allocator.h"

#include <string>

#include "core/backend/cuda/cuda_check.h"
#include "core/tensor/error.h"

namespace perceptra::cuda {

namespace {
std::string mib(size_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }
}  // namespace

CachingAllocator::CachingAllocator(int device, cudaStream_t compute) : device_(device), compute_(compute) {}

void* CachingAllocator::device_malloc(size_t bytes) {
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    empty_cache_locked();  // give the cache back and try once more
    err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw Error("CUDA out of memory on cuda:" + std::to_string(device_) + ": allocating " + mib(bytes) + " with " +
                  mib(stats_.in_use) + " in use by tensors; try a smaller batch size");
    }
  }
  check_cuda(err, "cudaMalloc(&p, bytes)", __FILE__, __LINE__);
  ++stats_.device_mallocs;
  return p;
}

void* CachingAllocator::allocate(size_t bytes, bool upload_pool) {
  const size_t size = round_allocation(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  cudaEvent_t reuse = nullptr;
  if (upload_pool) {
    auto it = upload_free_.find(size);
    if (it != upload_free_.end() && !it->second.empty()) {
      p = it->second.back().ptr;
      reuse = it->second.back().freed;
      it->second.pop_back();
    }
  } else {
    auto it = free_.find(size);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
    }
  }
  if (p) {
    stats_.cached -= size;
    ++stats_.reuses;
  } else {
    p = device_malloc(size);
  }
  if (upload_pool) upload_live_[p] = reuse;
  stats_.in_use += size;
  if (stats_.in_use > stats_.peak_in_use) stats_.peak_in_use = stats_.in_use;
  return p;
}

cudaEvent_t CachingAllocator::new_event_locked() {
  if (!spare_events_.empty()) {
    cudaEvent_t e = spare_events_.back();
    spare_events_.pop_back();
    return e;
  }
  cudaEvent_t e = nullptr;
  PCUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void CachingAllocator::release(void* p, size_t bytes) {
  if (!p) return;
  const size_t size = round_allocation(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.in_use -= size;
  stats_.cached += size;
  auto live = upload_live_.find(p);
  if (live != upload_live_.end()) {
    if (live->second) spare_events_.push_back(live->second);
    upload_live_.erase(live);
    cudaEvent_t freed = new_event_locked();
    PCUDA(cudaEventRecord(freed, compute_));
    upload_free_[size].push_back({p, freed});
    return;
  }
  free_[size].push_back(p);
}

cudaEvent_t CachingAllocator::take_reuse_event(void* p) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = upload_live_.find(p);
  if (it == upload_live_.end() || !it->second) return nullptr;
  cudaEvent_t e = it->second;
  it->second = nullptr;
  return e;
}

void CachingAllocator::recycle_event(cudaEvent_t e) {
  // Waits already enqueued on it keep the state it had; re-recording is fine.
  std::lock_guard<std::mutex> lock(mu_);
  spare_events_.push_back(e);
}

void CachingAllocator::empty_cache_locked() {
  // cudaFree waits for the device, so no cached block is still in use after.
  for (auto& [size, blocks] : free_)
    for (void* p : blocks) PCUDA(cudaFree(p));
  for (auto& [size, blocks] : upload_free_)
    for (auto& b : blocks) {
      PCUDA(cudaFree(b.ptr));
      spare_events_.push_back(b.freed);
    }
  free_.clear();
  upload_free_.clear();
  stats_.cached = 0;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  empty_cache_locked();
}

AllocatorStats CachingAllocator::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace perceptra::cuda
