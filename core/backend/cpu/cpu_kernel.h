#pragma once
// Shared by the CPU backend's op files (internal to core/backend/cpu).
#include <cstddef>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_profile.h"

namespace perceptra {

// Loops go parallel only when the work pays for the OpenMP fork.
inline constexpr size_t kParallelMin = size_t(1) << 15;

// A temporary from the backend's block cache, given back on scope exit: no
// page faults once a shape has been seen, and cpu_release_cached_memory()
// can return it to the system (thread_local vectors could not be).
class CpuScratch {
 public:
  CpuScratch() = default;
  explicit CpuScratch(size_t floats) {
    if (floats) get(floats);
  }
  CpuScratch(const CpuScratch&) = delete;
  CpuScratch& operator=(const CpuScratch&) = delete;
  ~CpuScratch() {
    if (p_) cpu_backend().deallocate(p_, n_);
  }
  float* get(size_t floats) {
    reset();
    n_ = floats;
    p_ = cpu_backend().allocate(n_);
    return p_;
  }
  float* get_bytes(size_t bytes) { return get((bytes + sizeof(float) - 1) / sizeof(float)); }
  void reset() {
    if (p_) cpu_backend().deallocate(p_, n_);
    p_ = nullptr;
  }
  float* data() const { return p_; }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

// Max pooling of a channel-blocked tensor [N][ceil(C/block)][H][W][block]
// (oneDNN's nChw8c / nChw16c, block 8 or 16) into the same layout: an
// inference chain pools a convolution's output where oneDNN wrote it
// (cpu_pool.cpp). Padded cells never win, as in PyTorch.
void maxpool2d_forward_blocked(const PoolGeometry& g, int block, const float* x, float* y);

}  // namespace perceptra
