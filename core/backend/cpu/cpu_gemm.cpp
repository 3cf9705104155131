// Dense algebra of the CPU backend: oneDNN sgemm (bf16 matmul at
// Precision::BF16, cpu_bf16.cpp), Linear layers as oneDNN matmuls, bias rows
// and column sums (twin: cuda/cuda_gemm.cu).
#include <dnnl.hpp>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_dnnl_scratchpad.h"
#include "core/backend/cpu/cpu_gemm_kernel.h"
#include "core/backend/cpu/cpu_layouts.h"
#include "core/backend/cpu/cpu_kernel.h"
#include "core/tensor/error.h"

namespace perceptra {

// oneDNN generates its sgemm kernels on the process's first dnnl_sgemm call
// that is not trivially small: 38-52 ms on this machine. Left to the first
// real call, that lands inside the first training step (a third of the MLP's
// time on a 10,000-image epoch, against a PyTorch whose BLAS needs none);
// cpu_backend() makes the call as the backend is created instead. (A helper
// thread would overlap it with data loading, but one still generating when
// a short process exits crashed in oneDNN's static destructors.)
void cpu_sgemm_warm_up() {
  float a[16 * 16] = {}, b[16 * 16] = {}, c[16 * 16];
  dnnl_sgemm('N', 'N', 16, 16, 16, 1.f, a, 16, b, 16, 0.f, c, 16);
}

void cpu_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
               int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // no products: C = beta * C (dnnl_sgemm refuses K = 0)
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) C[size_t(i) * ldc + j] = beta == 0.f ? 0.f : beta * C[size_t(i) * ldc + j];
    return;
  }
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  PCHECK(st == dnnl_success, "dnnl_sgemm failed with status " + std::to_string(st) + " (M=" + std::to_string(M) +
                                 " N=" + std::to_string(N) + " K=" + std::to_string(K) + ")");
}

void CpuBackend::gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                      const float* B, int ldb, float beta, float* C, int ldc) {
  PERCEPTRA_CPU_OP(kGemm);
  if (cpu_precision() == Precision::BF16)
    return cpu_gemm_bf16(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (cpu_own_gemm(false)) return own_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  cpu_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

namespace {

// One matmul primitive per Linear shape, bias and post-op. oneDNN's brgemm
// matmul with the bias and activation applied in registers ran the MLP's
// layers 1.1-1.9x faster than dnnl_sgemm followed by the bias and ReLU
// passes (2 threads, batch 32-1000; 512 -> 256 at batch 128: 98 vs 182 us);
// dnnl_sgemm stays for the gradients (the matmul was slower for two of
// the MLP's three weight-gradient shapes).
// (N, in, out, bias, post, OpenMP threads (cpu_dnnl.h), weights packed,
// bf16: x and W in bfloat16, bias and y float32)
using LinearKey = std::tuple<int, int, int, bool, ConvPost, int, bool, bool>;
std::mutex g_linear_mu;  // the cache, and executions (serialised as the convolutions')
struct Linear {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};
std::map<LinearKey, std::unique_ptr<Linear>> g_linears;
constexpr size_t kMaxLinears = 64;  // shapes (batch sizes differ at epoch ends)

using dnnl::memory;
using dt = memory::data_type;

struct LinearDescs {
  memory::desc x, w, bias, y;
  LinearDescs(int N, int in, int out)
      : x({N, in}, dt::f32, memory::dims{in, 1}),
        w({in, out}, dt::f32, memory::dims{1, in}),  // W[out, in] read as W^T
        bias({1, out}, dt::f32, memory::dims{out, 1}),
        y({N, out}, dt::f32, memory::dims{out, 1}) {}
};

Linear& linear_for(const LinearKey& key) {
  auto it = g_linears.find(key);
  if (it != g_linears.end()) return *it->second;
  if (g_linears.size() >= kMaxLinears) g_linears.clear();
  const auto [N, in, out, bias, post, threads, packed, bf16] = key;
  const LinearDescs d(N, in, out);
  const memory::desc w_any({in, out}, bf16 ? dt::bf16 : dt::f32, memory::format_tag::any);
  const memory::desc x = bf16 ? memory::desc({N, in}, dt::bf16, memory::format_tag::ab) : d.x;
  dnnl::post_ops ops;
  append_post_activation(ops, post);
  dnnl::primitive_attr attr = caller_scratchpad_attr();
  attr.set_post_ops(ops);
  const memory::desc& w = packed || bf16 ? w_any : d.w;
  const auto desc = bias ? dnnl::matmul::desc(x, w, d.bias, d.y) : dnnl::matmul::desc(x, w, d.y);
  auto m = std::make_unique<Linear>();
  m->pd = dnnl::matmul::primitive_desc(desc, attr, cpu_dnnl_engine());
  m->prim = dnnl::matmul(m->pd);
  return *g_linears.emplace(key, std::move(m)).first->second;
}

float* mut(const float* p) { return const_cast<float*>(p); }

// Held weights (WeightsHeld, backend.h): during an inference pass each
// Linear layer's W is packed once into the layout its matmul chose (format
// `any`), or into our kernel's panels, and reused by every batch
// (cpu_layouts.h). Measured on the MLP's layers, 2 threads, batch 128:
// 1.17-1.19x over reading W^T through strides. Larger weights stay unpacked
// (a second copy of them per pass is memory a pass should not need).
constexpr size_t kMaxPackedBytes = size_t(64) << 20;

memory packed_weights(const memory::desc& want, const memory::desc& user, const float* w, dnnl::stream& s) {
  return held_weights(w, want, [&](const memory& to) {
    memory from(user, cpu_dnnl_engine(), mut(w));
    cpu_reorder(from, to, s);
  });
}

// W^T in our kernel's panels (own_gemm_pack), keyed by a one-dimensional
// layout of the panels' size.
const float* packed_panels(const float* w, int in, int out) {
  const memory::desc layout({memory::dim(own_gemm_panel_floats(in, out))}, dt::f32, memory::format_tag::a);
  const memory m = held_weights(w, layout, [&](const memory& to) {
    own_gemm_pack(true, in, out, w, in, static_cast<float*>(to.get_data_handle()));
  });
  return static_cast<const float*>(m.get_data_handle());
}

}  // namespace

void CpuBackend::linear_forward(int N, int in, int out, const float* x, const float* w, const float* bias,
                                ConvPost post, float* y) {
  if (N == 0 || out == 0) return;
  // No products, no matmul (sgemm writes the zeros).
  if (in == 0) return linear_forward_op_by_op(*this, N, in, out, x, w, bias, post, y);
  PERCEPTRA_CPU_OP(kGemm);
  std::lock_guard<std::mutex> lk(g_linear_mu);
  // bf16: x rounded on every call; W rounded once per held pass (else on
  // every call, as gemm's bf16 matmul does). Op by op (bf16 gemm, then the
  // bias and activation passes) the MLP's bf16 inference ran slower than
  // its float32.
  const bool bf16 = cpu_precision() == Precision::BF16;
  const bool packed = weights_held() && size_t(in) * out * sizeof(float) <= kMaxPackedBytes;
  if (!bf16 && cpu_own_gemm(packed)) {
    if (packed)
      own_sgemm_packed(false, N, out, in, 1.f, x, in, packed_panels(w, in, out), 0.f, y, out, bias, post);
    else
      own_sgemm(false, true, N, out, in, 1.f, x, in, w, in, 0.f, y, out, bias, post);
    return;
  }
  Linear& m = linear_for({N, in, out, bias != nullptr, post, cpu_threads(), packed, bf16});
  const LinearDescs d(N, in, out);
  dnnl::engine& e = cpu_dnnl_engine();
  dnnl::stream s(e);
  memory xm(d.x, e, mut(x)), ym(d.y, e, y);
  CpuScratch tx, tw;
  if (bf16) xm = as_layout(m.pd.src_desc(), xm, true, tx, s);
  memory wm = packed ? packed_weights(m.pd.weights_desc(), d.w, w, s) : memory(d.w, e, mut(w));
  if (!packed && bf16) wm = as_layout(m.pd.weights_desc(), wm, true, tw, s);
  if (bias) {
    memory bm(d.bias, e, mut(bias));
    execute_with_scratchpad(m.prim, m.pd, s,
                            {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, ym}});
  } else {
    execute_with_scratchpad(m.prim, m.pd, s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
  }
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
  // Column sums in double per column for stable bias gradients, 16 columns
  // at a time so each row is read along its cache lines (a column at a time
  // strode by whole rows: 3 % of the MLP's step). The same additions in the
  // same order per column as one column at a time.
  constexpr int kCols = 16;
  const int blocks = (cols + kCols - 1) / kCols;
#pragma omp parallel for if ((size_t)rows * cols > kParallelMin)
  for (int b = 0; b < blocks; ++b) {
    const int c0 = b * kCols, n = std::min(kCols, cols - c0);
    double s[kCols] = {};
    for (int r = 0; r < rows; ++r) {
      const float* xr = x + (size_t)r * cols + c0;
      for (int i = 0; i < n; ++i) s[i] += xr[i];
    }
    for (int i = 0; i < n; ++i) out[c0 + i] = static_cast<float>(s[i]) + (beta == 0.f ? 0.f : beta * out[c0 + i]);
  }
}

}  // namespace perceptra
