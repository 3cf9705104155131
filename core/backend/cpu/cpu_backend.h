#pragma once
// The CPU reference backend: oneDNN's sgemm for dense algebra (Debian's
// OpenBLAS picks a slow "Prescott" kernel on this CPU; oneDNN measured ~10x
// faster), oneDNN or im2col convolution, and plain OpenMP loops for the rest.
// Readable first: it is the reference the CUDA backend is held to. One file
// per op family (cpu_pool.cpp, cpu_loss.cpp, ...), the CUDA twin has the
// same name (cuda_pool.cu, ...).
#include "core/backend/backend.h"

namespace perceptra {

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::cpu(); }
  std::string describe() const override;
  // BF16 where oneDNN has native AVX-512 BF16 kernels (cpu_bf16.cpp).
  std::string precision_unavailable(Precision p) const override;
  void set_precision(Precision p) override;
  Precision precision() const override;
  // oneDNN's blocked layout where its convolutions use it (cpu_conv_dnnl.cpp).
  int activation_channel_block(int channels) const override;
  bool fuses_conv_relu_maxpool(const ConvGeometry& g) const override;

  // Every op of the list; each family's file is named in backend_ops.inc.
#define PERCEPTRA_OP(ret, name, args) ret name args override;
#include "core/backend/backend_ops.inc"
};

CpuBackend& cpu_backend();

// Row-major sgemm on host memory through oneDNN (used by the backend and
// benchmarks, which report its GFLOP/s).
void cpu_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
               int ldb, float beta, float* C, int ldc);
// Has oneDNN generate its sgemm kernels now (cpu_backend() calls it once, as
// the backend is created) rather than in the first training step.
void cpu_sgemm_warm_up();
// Weights this thread holds in a kernel's layout for the pass (WeightsHeld):
// Linear layers' packed W, chains' reordered convolution weights
// (cpu_layouts.h).
size_t cpu_held_weight_copies();

// The precision the CPU backend computes gemm and convolutions at (one
// setting for the process, F32 until set), and the bf16 matrix product:
// C = alpha * op(A) op(B) + beta * C with A and B rounded to bfloat16 and
// float32 accumulation, through oneDNN's matmul (cpu_bf16.cpp).
Precision cpu_precision();
void cpu_gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc);

// Whether training keeps activations channel-blocked between layers
// (activation_channel_block; on unless PERCEPTRA_BLOCKED=0 at start-up).
void set_cpu_blocked_activations(bool on);
bool cpu_blocked_activations();

// Freed host blocks of 64 KiB and more are cached by size (bounded, 256 MiB)
// and reused by later allocations of the same size: no page faults per batch.
size_t cpu_cached_bytes();
void cpu_release_cached_memory();

// Threads our kernels and oneDNN use (one OpenMP pool shared by both).
int cpu_threads();
void set_cpu_threads(int n);

}  // namespace perceptra
