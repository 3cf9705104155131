#pragma once
// Our float32 matrix product, for the Linear layers on CPUs without AVX-512.
// There oneDNN 2.6 has no brgemm: its matmul and its sgemm are both gemm:jit,
// which ran the MLP's 128 x 784 x 512 forward at 48-56 GFLOP/s on one Zen 3
// thread (93 GFLOP/s peak) where this kernel's 6 x 16 register tile over
// packed 16-column panels of B ran it at 64-73 (cpu_gemm_kernel.cpp). With
// AVX-512, oneDNN's brgemm matmul stays.
#include "core/backend/backend.h"

namespace perceptra {

// Whether the CPU backend's Linear products run on this kernel: Off; On, all
// of them (forward and both gradients, CpuBackend::gemm); or Rule (the
// default), forwards with held weights (inference passes: W packed once) on
// CPUs without AVX-512. In training, packing W per call and the gradients'
// shapes left it 0.5-1.4x oneDNN's time (bench_gemm), so they stay there.
// PERCEPTRA_OWN_GEMM=0/1 at start-up; tests and benches compare both.
enum class OwnGemmUse { Off, Rule, On };
void set_cpu_own_gemm(OwnGemmUse use);
OwnGemmUse cpu_own_gemm_use();
bool cpu_own_gemm(bool held_weights);

// B (K x N, row-major; its transpose N x K when trans_b) as the kernel reads
// it: 16 columns at a time, each panel K x 16 and the last one zero-padded.
size_t own_gemm_panel_floats(int K, int N);
void own_gemm_pack(bool trans_b, int K, int N, const float* B, int ldb, float* panels);

// Row-major C (M x N) = alpha * op(A) op(B) + beta * C (C is not read when
// beta is 0), then bias[column] added (when given) and post applied:
// ReLU and ReLU6 let NaN through, as PyTorch's do.
void own_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
               int ldb, float beta, float* C, int ldc, const float* bias = nullptr, ConvPost post = ConvPost::None);
// The same with B already in panels (own_gemm_pack): held weights.
void own_sgemm_packed(bool trans_a, int M, int N, int K, float alpha, const float* A, int lda, const float* panels,
                      float beta, float* C, int ldc, const float* bias = nullptr, ConvPost post = ConvPost::None);

}  // namespace perceptra
