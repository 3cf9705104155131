// Memory, elementwise ops, reductions and optimizer updates of the CPU backend.
#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_profile.h"
#include "core/tensor/random.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

namespace perceptra {

namespace {
// Elementwise loops go parallel only when the work pays for the fork.
constexpr size_t kParallelMin = 1 << 15;
}  // namespace

void cpu_omp_policy_link();  // cpu_omp_policy.cpp

CpuBackend& cpu_backend() {
  cpu_omp_policy_link();
  static CpuBackend backend;
  return backend;
}

namespace {

// Freed blocks of 64 KiB and more are kept by exact size and handed out
// again: training allocates the same shapes every step, and a fresh large
// block costs page faults on first touch (glibc serves it with mmap). The
// cache is bounded so idle memory stays small; cpu_release_cached_memory()
// empties it.
constexpr size_t kCacheMinBytes = size_t(64) << 10;
constexpr size_t kCacheMaxBytes = size_t(256) << 20;

struct BlockCache {
  std::mutex mu;
  std::unordered_multimap<size_t, void*> free_blocks;
  size_t cached_bytes = 0;
  ~BlockCache() { release(); }
  void release() {
    std::lock_guard<std::mutex> lk(mu);
    for (auto& kv : free_blocks) std::free(kv.second);
    free_blocks.clear();
    cached_bytes = 0;
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
    if (it != c.free_blocks.end()) {
      void* p = it->second;
      c.free_blocks.erase(it);
      c.cached_bytes -= bytes;
      return static_cast<float*>(p);
    }
  }
  void* p = std::aligned_alloc(64, bytes);
  if (!p) {
    cpu_release_cached_memory();  // out of memory: give back what we hold and retry
    p = std::aligned_alloc(64, bytes);
  }
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}

void CpuBackend::deallocate(float* p, size_t n) {
  if (!p) return;
  const size_t bytes = block_bytes(n);
  if (bytes >= kCacheMinBytes) {
    BlockCache& c = block_cache();
    std::lock_guard<std::mutex> lk(c.mu);
    if (c.cached_bytes + bytes <= kCacheMaxBytes) {
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

void CpuBackend::fill(float* x, size_t n, float value) {
  PERCEPTRA_CPU_OP(kMemory);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) x[i] = value;
}

void CpuBackend::add_bias_rows(float* y, const float* bias, int rows, int cols) {
  PERCEPTRA_CPU_OP(kBiasRows);
#pragma omp parallel for if ((size_t)rows * cols > kParallelMin)
  for (int r = 0; r < rows; ++r) {
    float* yr = y + (size_t)r * cols;
#pragma omp simd
    for (int c = 0; c < cols; ++c) yr[c] += bias[c];
  }
}

void CpuBackend::sum_rows(const float* x, float* out, int rows, int cols, float beta) {
  PERCEPTRA_CPU_OP(kSumRows);
  // Column sums in double per column for stable bias gradients.
#pragma omp parallel for if ((size_t)rows * cols > kParallelMin)
  for (int c = 0; c < cols; ++c) {
    double s = 0;
    for (int r = 0; r < rows; ++r) s += x[(size_t)r * cols + c];
    out[c] = static_cast<float>(s) + (beta == 0.f ? 0.f : beta * out[c]);
  }
}

void CpuBackend::add(const float* a, const float* b, float* out, size_t n) {
  PERCEPTRA_CPU_OP(kElementwise);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void CpuBackend::mul(const float* a, const float* b, float* out, size_t n) {
  PERCEPTRA_CPU_OP(kElementwise);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void CpuBackend::axpby(float alpha, const float* x, float beta, float* y, size_t n) {
  PERCEPTRA_CPU_OP(kElementwise);
  if (beta == 0.f) {  // y may hold garbage (uninitialised): never read it
#pragma omp parallel for simd if (n > kParallelMin)
    for (size_t i = 0; i < n; ++i) y[i] = alpha * x[i];
    return;
  }
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) y[i] = alpha * x[i] + beta * y[i];
}

void CpuBackend::scale(float* x, float s, size_t n) {
  PERCEPTRA_CPU_OP(kElementwise);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) x[i] *= s;
}

void CpuBackend::normalize_channels(const float* x, float* out, const float* mean,
                                    const float* inv_std, int N, int C, int HW) {
  PERCEPTRA_CPU_OP(kElementwise);
#pragma omp parallel for collapse(2) if ((size_t)N * C * HW > kParallelMin)
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      size_t off = ((size_t)n * C + c) * HW;
      float m = mean[c], s = inv_std[c];
#pragma omp simd
      for (int i = 0; i < HW; ++i) out[off + i] = (x[off + i] - m) * s;
    }
}

double CpuBackend::sum(const float* x, size_t n) {
  PERCEPTRA_CPU_OP(kReduction);
  double s = 0;
#pragma omp parallel for simd reduction(+ : s) if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) s += x[i];
  return s;
}

double CpuBackend::sum_squares(const float* x, size_t n) {
  PERCEPTRA_CPU_OP(kReduction);
  double s = 0;
#pragma omp parallel for simd reduction(+ : s) if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) s += (double)x[i] * x[i];
  return s;
}

bool CpuBackend::has_non_finite(const float* x, size_t n) {
  PERCEPTRA_CPU_OP(kReduction);
  int bad = 0;
#pragma omp parallel for reduction(| : bad) if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) bad |= !std::isfinite(x[i]);
  return bad != 0;
}

void CpuBackend::dropout_forward(const float* x, float* y, float* mask, size_t n, float p,
                                 uint64_t seed) {
  PERCEPTRA_CPU_OP(kElementwise);
  // keep when the 32-bit hash is >= p * 2^32; kept values are scaled by 1/(1-p).
  const double threshold = static_cast<double>(p) * 4294967296.0;
  const float keep_scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
#pragma omp parallel for if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) {
    float m = static_cast<double>(hash_u32(seed, i)) >= threshold ? keep_scale : 0.f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

void CpuBackend::sgd_update(float* w, const float* g, float* v, size_t n, float lr, float momentum,
                            float dampening, float weight_decay, bool nesterov, bool first_step) {
  PERCEPTRA_CPU_OP(kOptimizer);
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) {
    float d = g[i] + weight_decay * w[i];
    if (momentum != 0.f) {
      float buf = first_step ? d : momentum * v[i] + (1.f - dampening) * d;
      v[i] = buf;
      d = nesterov ? d + momentum * buf : buf;
    }
    w[i] -= lr * d;
  }
}

void CpuBackend::adam_update(float* w, const float* g, float* m, float* v, size_t n, float lr,
                             float beta1, float beta2, float eps, float weight_decay,
                             bool decoupled, int64_t step) {
  PERCEPTRA_CPU_OP(kOptimizer);
  const double bc1 = 1.0 - std::pow((double)beta1, (double)step);
  const double bc2 = 1.0 - std::pow((double)beta2, (double)step);
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  const float decay = decoupled ? 1.f - lr * weight_decay : 1.f;
  const float l2 = decoupled ? 0.f : weight_decay;
#pragma omp parallel for simd if (n > kParallelMin)
  for (size_t i = 0; i < n; ++i) {
    float gi = g[i] + l2 * w[i];
    float wi = w[i] * decay;
    float mi = beta1 * m[i] + (1.f - beta1) * gi;
    float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] = wi - step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps);
  }
}

}  // namespace perceptra
