// The CPU backend object: its description, thread count and memory (twin:
// cuda/cuda_backend.cpp). The ops live in one file per family.
#include <dnnl.hpp>
#include <omp.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

CpuBackend& cpu_backend() {
  static CpuBackend backend;
  static const bool warming = (cpu_sgemm_warm_up(), true);
  (void)warming;
  // A held pass's copies (folded weights, packed and reordered weights,
  // transformed filters) and its batch temporaries rarely match what
  // training allocates next: kept in the block cache they sat beside
  // training's own blocks (ResNet-18 at 224 inferring, then training: peak
  // RSS 887 -> 940 MB, over PyTorch's 906). Given back when the pass ends;
  // the next training step faults its pages in again, once per evaluation.
  static const bool releasing = (on_weights_released(cpu_release_cached_memory, true), true);
  (void)releasing;
  return backend;
}

std::string CpuBackend::describe() const {
  const dnnl_version_t* v = dnnl_version();
  return "cpu (oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) +
         " sgemm, " + std::to_string(cpu_threads()) + " threads)";
}

dnnl::engine& cpu_dnnl_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

bool cpu_isa_has(dnnl_cpu_isa_t isa) {
  return (unsigned(dnnl_get_effective_cpu_isa()) & unsigned(isa)) == unsigned(isa);
}

void append_post_activation(dnnl::post_ops& ops, ConvPost post) {
  if (post == ConvPost::ReLU)
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  else if (post == ConvPost::ReLU6)
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f);
}

int cpu_threads() { return omp_get_max_threads(); }

void set_cpu_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

// ---- memory -------------------------------------------------------------------

namespace {

// Freed blocks of 64 KiB and more are kept by exact size and handed out
// again: training allocates the same shapes every step, and a fresh large
// block costs page faults on first touch (glibc serves it with mmap; at
// 224x224 those faults were ~20 % of a MobileNetV2 step when the cache was a
// fixed 256 MiB). Bound: live + cached never exceeds the highest live total
// seen plus kCacheSlackBytes, so the process never holds more than its own
// peak needed plus the slack; cpu_release_cached_memory() empties it.
constexpr size_t kCacheMinBytes = size_t(64) << 10;
constexpr size_t kCacheSlackBytes = size_t(256) << 20;

struct BlockCache {
  std::mutex mu;
  std::unordered_multimap<size_t, void*> free_blocks;
  size_t cached_bytes = 0;
  size_t live_bytes = 0, peak_live_bytes = 0;  // blocks >= kCacheMinBytes handed out
  ~BlockCache() { release(); }
  void release() {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& kv : free_blocks) std::free(kv.second);
    free_blocks.clear();
    cached_bytes = 0;
    peak_live_bytes = live_bytes;  // the old peak no longer justifies holding memory
  }
};

BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache();  // never destroyed: tensors may outlive statics
  return *cache;
}

size_t block_bytes(size_t n) {
  // 64-byte alignment for AVX-512 loads; size rounded up as aligned_alloc needs.
  size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
  return bytes ? bytes : 64;
}

}  // namespace

float* CpuBackend::allocate(size_t n) {
  PERCEPTRA_CPU_OP(kMemory);
  const size_t bytes = block_bytes(n);
  if (bytes >= kCacheMinBytes) {
    BlockCache& c = block_cache();
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.free_blocks.find(bytes);
    c.live_bytes += bytes;
    c.peak_live_bytes = std::max(c.peak_live_bytes, c.live_bytes);
    if (it != c.free_blocks.end()) {
      void* p = it->second;
      c.free_blocks.erase(it);
      c.cached_bytes -= bytes;
      return static_cast<float*>(p);
    }
    // A fresh block: give back cached ones of other sizes first when they
    // would take live + cached past the bound.
    for (auto e = c.free_blocks.begin();
         e != c.free_blocks.end() && c.live_bytes + c.cached_bytes > c.peak_live_bytes + kCacheSlackBytes;) {
      std::free(e->second);
      c.cached_bytes -= e->first;
      e = c.free_blocks.erase(e);
    }
  }
  void* p = std::aligned_alloc(64, bytes);
  if (!p) {
    cpu_release_cached_memory();  // out of memory: give back what we hold and retry
    p = std::aligned_alloc(64, bytes);
  }
  if (!p) {
    if (bytes >= kCacheMinBytes) {
      BlockCache& c = block_cache();
      std::lock_guard<std::mutex> lk(c.mu);
      c.live_bytes -= bytes;
    }
    throw std::bad_alloc();
  }
  return static_cast<float*>(p);
}

void CpuBackend::deallocate(float* p, size_t n) {
  if (!p) return;
  const size_t bytes = block_bytes(n);
  if (bytes >= kCacheMinBytes) {
    BlockCache& c = block_cache();
    std::lock_guard<std::mutex> lk(c.mu);
    c.live_bytes -= std::min(c.live_bytes, bytes);
    if (c.live_bytes + c.cached_bytes + bytes <= c.peak_live_bytes + kCacheSlackBytes) {
      c.free_blocks.emplace(bytes, p);
      c.cached_bytes += bytes;
      return;
    }
  }
  std::free(p);
}

size_t cpu_cached_bytes() {
  BlockCache& c = block_cache();
  std::lock_guard<std::mutex> lk(c.mu);
  return c.cached_bytes;
}

void cpu_release_cached_memory() { block_cache().release(); }

void CpuBackend::copy_from_host(float* dst, const float* src, size_t n) {
  PERCEPTRA_CPU_OP(kMemory);
  if (n) std::memcpy(dst, src, n * sizeof(float));
}
void CpuBackend::copy_to_host(float* dst, const float* src, size_t n) {
  PERCEPTRA_CPU_OP(kMemory);
  if (n) std::memcpy(dst, src, n * sizeof(float));
}
void CpuBackend::copy(float* dst, const float* src, size_t n) {
  PERCEPTRA_CPU_OP(kMemory);
  if (n && dst != src) std::memmove(dst, src, n * sizeof(float));
}

}  // namespace perceptra
