// The CPU backend's precision setting and its bf16 matrix product. bf16 runs
// only where oneDNN has native AVX-512 BF16 kernels (vdpbf16ps: twice the
// multiply-adds of float32 FMA per instruction; measured here 800-840
// GFLOP/s for bf16 matmul vs 400 for sgemm at the MLP's shapes). Elsewhere
// oneDNN would emulate it, slower than float32, so it is refused.
#include <dnnl.hpp>

#include <cstdint>
#include <cstring>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_layouts.h"
#include "core/backend/cpu/cpu_dnnl_scratchpad.h"
#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

namespace {

using dnnl::memory;
using dt = memory::data_type;

Precision g_precision = Precision::F32;

std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41:
      return "SSE4.1";
    case dnnl::cpu_isa::avx:
      return "AVX";
    case dnnl::cpu_isa::avx2:
      return "AVX2";
    case dnnl::cpu_isa::avx2_vnni:
      return "AVX2 VNNI";
    case dnnl::cpu_isa::avx512_core:
      return "AVX-512";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "AVX-512 VNNI";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "AVX-512 BF16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "AMX";
    default:
      return "an older ISA";
  }
}

// One matmul per call shape. alpha and beta are fixed at creation in
// oneDNN 2.6 (output scale, sum post-op), so they are part of the key.
using Key = std::tuple<bool, bool, int, int, int, int, int, int, float, float>;
struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  memory::desc a_user, b_user, c_user;  // float32, the caller's strides
};
std::mutex g_mu;  // the cache, and executions (oneDNN's shared scratchpad)
std::map<std::pair<Key, int>, std::unique_ptr<Matmul>> g_matmuls;  // with the OpenMP threads: see cpu_dnnl.h
constexpr size_t kMaxCached = 64;

// op(X) as a [rows, cols] view of row-major X with leading dimension ld.
memory::desc view(int rows, int cols, bool trans, int ld) {
  const memory::dims strides = trans ? memory::dims{1, ld} : memory::dims{ld, 1};
  return memory::desc({rows, cols}, dt::f32, strides);
}

Matmul& matmul_for(const Key& key) {
  const std::pair<Key, int> cached{key, cpu_threads()};
  auto it = g_matmuls.find(cached);
  if (it != g_matmuls.end()) return *it->second;
  if (g_matmuls.size() >= kMaxCached) g_matmuls.clear();
  const auto [ta, tb, M, N, K, lda, ldb, ldc, alpha, beta] = key;
  auto m = std::make_unique<Matmul>();
  m->a_user = view(M, K, ta, lda);
  m->b_user = view(K, N, tb, ldb);
  m->c_user = memory::desc({M, N}, dt::f32, memory::dims{ldc, 1});
  const memory::desc a({M, K}, dt::bf16, memory::format_tag::any), b({K, N}, dt::bf16, memory::format_tag::any);
  dnnl::primitive_attr attr = caller_scratchpad_attr();
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  if (beta != 0.f) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  m->pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, m->c_user), attr, cpu_dnnl_engine());
  m->prim = dnnl::matmul(m->pd);
  return *g_matmuls.emplace(cached, std::move(m)).first->second;
}

}  // namespace

Precision cpu_precision() { return g_precision; }

std::string CpuBackend::precision_unavailable(Precision p) const {
  if (p == Precision::F32) return {};
  if (cpu_isa_has(dnnl_cpu_isa_avx512_core_bf16)) return {};
  return "bf16 needs a CPU with AVX-512 BF16 (oneDNN finds " + isa_name(dnnl::get_effective_cpu_isa()) +
         " here, where bf16 would run emulated, slower than f32)";
}

void CpuBackend::set_precision(Precision p) {
  Backend::set_precision(p);  // throws when unavailable
  g_precision = p;
}

Precision CpuBackend::precision() const { return g_precision; }

namespace {

void f32_to_bf16(const float* x, uint16_t* y, size_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, 4);
    const uint32_t nearest_even = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    y[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : nearest_even);
  }
}

void bf16_to_f32(const uint16_t* x, float* y, size_t n) {
#pragma omp parallel for simd if (n > kParallelMin) schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const uint32_t u = uint32_t(x[i]) << 16;
    std::memcpy(y + i, &u, 4);
  }
}

}  // namespace

bool cpu_reorder_elementwise(const dnnl_memory_desc_t& ad, const dnnl_memory_desc_t& bd) {
  const memory::desc a(ad), b(bd);
  const bool down = a.data_type() == dt::f32 && b.data_type() == dt::bf16;
  const bool up = a.data_type() == dt::bf16 && b.data_type() == dt::f32;
  if (!down && !up) return false;
  // The same dense layout but for the element type. Padded layouts
  // (channels not a multiple of the block) stay with oneDNN, whose kernels
  // want the padding zero.
  dnnl_memory_desc_t as_a = b.data;
  as_a.data_type = a.data.data_type;
  if (!(memory::desc(as_a) == a) || a.data.format_kind != dnnl_blocked || a.data.offset0 != 0) return false;
  for (int i = 0; i < a.data.ndims; ++i)
    if (a.data.padded_dims[i] != a.data.dims[i] || a.data.padded_offsets[i] != 0) return false;
  return true;
}

void cpu_reorder(const memory& from, const memory& to, dnnl::stream& s) {
  const memory::desc a = from.get_desc(), b = to.get_desc();
  if (cpu_reorder_elementwise(a.data, b.data)) {
    s.wait();  // what wrote `from` has finished
    const bool down = a.data_type() == dt::f32;
    const size_t n = b.get_size() / (down ? sizeof(uint16_t) : sizeof(float));
    if (down)
      f32_to_bf16(static_cast<const float*>(from.get_data_handle()), static_cast<uint16_t*>(to.get_data_handle()), n);
    else
      bf16_to_f32(static_cast<const uint16_t*>(from.get_data_handle()), static_cast<float*>(to.get_data_handle()), n);
    return;
  }
  dnnl::reorder(from, to).execute(s, const_cast<memory&>(from), const_cast<memory&>(to));
}

void cpu_gemm_bf16(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
                   const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) return cpu_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);  // C = beta * C
  std::lock_guard<std::mutex> lk(g_mu);
  Matmul& m = matmul_for({trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta});
  dnnl::stream s(cpu_dnnl_engine());
  CpuScratch ta, tb;
  memory au(m.a_user, cpu_dnnl_engine(), const_cast<float*>(A)), bu(m.b_user, cpu_dnnl_engine(), const_cast<float*>(B));
  // f32 -> bf16, rounding to nearest even
  const memory a = as_layout(m.pd.src_desc(), au, true, ta, s), b = as_layout(m.pd.weights_desc(), bu, true, tb, s);
  memory c(m.c_user, cpu_dnnl_engine(), C);
  execute_with_scratchpad(m.prim, m.pd, s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
}

}  // namespace perceptra
