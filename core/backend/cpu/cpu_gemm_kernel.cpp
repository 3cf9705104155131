// Our float32 GEMM (cpu_gemm_kernel.h): B in panels of 16 columns, C in
// register tiles of 6 rows x 16 columns (12 accumulators of 8 floats, as
// BLIS's Haswell kernel), K in blocks of 256 so a panel's
// block (16 KiB) stays in L1 while every row tile of A streams past it.
// Threads split the panels, or the rows when there are too few panels.
#if defined(__AVX__)
#include <immintrin.h>
#endif
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_gemm_kernel.h"
#include "core/backend/cpu/cpu_lanes.h"

namespace perceptra {

namespace {

constexpr int kNR = 16, kMR = 6, kKC = 256;
using V = LaneF<8>;

inline V splat(float x) { return V{x, x, x, x, x, x, x, x}; }
inline V fmadd(V a, V b, V c) {
#if defined(__FMA__)
  return V(_mm256_fmadd_ps(__m256(a), __m256(b), __m256(c)));
#else
  return a * b + c;
#endif
}
// Comparisons in this order keep a NaN, as PyTorch's ReLU and ReLU6 do.
inline V activate(V v, ConvPost post) {
  if (post == ConvPost::None) return v;
  v = v < 0.f ? V{} : v;
  if (post == ConvPost::ReLU6) v = v > 6.f ? splat(6.f) : v;
  return v;
}

// What happens to a finished block of products before it lands in C.
struct Epilogue {
  float alpha, beta;  // C = alpha * AB + beta * C on the first K block; later blocks add
  const float* bias;  // at the panel's first column, or null
  ConvPost post;
};

// R rows x 16 columns of C (`cols` of them real) from kc products: A(r, k)
// at a[r * rs + k * cs], B's panel block at b (16 floats per k).
template <int R>
void tile(int kc, const float* a, size_t rs, size_t cs, const float* b, float* c, size_t ldc, int cols, bool first,
          bool last, const Epilogue& e) {
  // Naturally aligned vectors: the accumulators must live in registers (as
  // LaneF's 4-byte-aligned type, GCC kept half of them on the stack).
  typedef float A8 __attribute__((vector_size(32)));
  A8 lo[R], hi[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = A8{};
  for (int k = 0; k < kc; ++k) {
    const A8 b0 = A8(load<8>(b + size_t(k) * kNR)), b1 = A8(load<8>(b + size_t(k) * kNR + 8));
    const float* ak = a + size_t(k) * cs;
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const A8 x = A8(splat(ak[r * rs]));
      lo[r] = A8(fmadd(V(x), V(b0), V(lo[r])));
      hi[r] = A8(fmadd(V(x), V(b1), V(hi[r])));
    }
  }
  float bias_row[kNR] = {};
  if (last && e.bias) std::memcpy(bias_row, e.bias, sizeof(float) * cols);
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    float row[kNR];  // the row's C, through which partial panels load and store
    const bool whole = cols == kNR;
    V out0 = V(lo[r]) * e.alpha, out1 = V(hi[r]) * e.alpha;
    const float scale = first ? e.beta : 1.f;
    if (scale != 0.f) {
      const float* old = cr;
      if (!whole) {
        std::memcpy(row, cr, sizeof(float) * cols);
        old = row;
      }
      out0 = fmadd(splat(scale), load<8>(old), out0);
      out1 = fmadd(splat(scale), load<8>(old + 8), out1);
    }
    if (last) {
      out0 = activate(out0 + load<8>(bias_row), e.post);
      out1 = activate(out1 + load<8>(bias_row + 8), e.post);
    }
    if (whole) {
      store<8>(cr, out0);
      store<8>(cr + 8, out1);
    } else {
      store<8>(row, out0);
      store<8>(row + 8, out1);
      std::memcpy(cr, row, sizeof(float) * cols);
    }
  }
}

using TileFn = void (*)(int, const float*, size_t, size_t, const float*, float*, size_t, int, bool, bool,
                        const Epilogue&);
constexpr TileFn kTiles[kMR + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

// Rows k0 .. k0 + kc of panel p (columns n0 .. n0 + cols) of op(B) into
// `to` (kc x 16, zero past cols).
void pack_block(bool trans_b, int k0, int kc, int n0, int cols, const float* B, int ldb, float* to) {
  if (cols < kNR) std::memset(to, 0, sizeof(float) * size_t(kc) * kNR);
  if (!trans_b) {
    for (int k = 0; k < kc; ++k) std::memcpy(to + size_t(k) * kNR, B + size_t(k0 + k) * ldb + n0, sizeof(float) * cols);
  } else {
    for (int j = 0; j < cols; ++j) {
      const float* col = B + size_t(n0 + j) * ldb + k0;
      for (int k = 0; k < kc; ++k) to[size_t(k) * kNR + j] = col[k];
    }
  }
}

// Products below this many multiply-adds run on one thread (the fork costs
// more than it saves).
constexpr double kParallelMacs = 1 << 17;

// B is either panels (packed, K x 16 each) or op(B) read through (trans_b, B, ldb).
struct BSource {
  const float* panels;
  bool trans_b;
  const float* B;
  int ldb;
};

void run(bool trans_a, int M, int N, int K, float alpha, const float* A, int lda, const BSource& src, float beta,
         float* C, int ldc, const float* bias, ConvPost post) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // no products: C = beta * C, then the bias and post
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        float& c = C[size_t(i) * ldc + j];
        float v = beta == 0.f ? 0.f : beta * c;
        if (bias) v += bias[j];
        if (post != ConvPost::None) v = v < 0.f ? 0.f : (post == ConvPost::ReLU6 && v > 6.f ? 6.f : v);
        c = v;
      }
    return;
  }
  const size_t rs = trans_a ? 1 : size_t(lda), cs = trans_a ? size_t(lda) : 1;
  const int panels = (N + kNR - 1) / kNR;
  const bool parallel = double(M) * N * K >= kParallelMacs;
#pragma omp parallel if (parallel)
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int p0 = 0, p1 = panels, m0 = 0, m1 = M;
    if (panels >= 2 * nt || M < 2 * kMR * nt) {
      p0 = int(int64_t(panels) * t / nt);
      p1 = int(int64_t(panels) * (t + 1) / nt);
    } else {
      const int tiles = (M + kMR - 1) / kMR;
      m0 = std::min(M, int(int64_t(tiles) * t / nt) * kMR);
      m1 = std::min(M, int(int64_t(tiles) * (t + 1) / nt) * kMR);
    }
    alignas(64) float block[kKC * kNR];
    for (int k0 = 0; k0 < K; k0 += kKC) {
      const int kc = std::min(kKC, K - k0);
      const bool first = k0 == 0, last = k0 + kc >= K;
      for (int p = p0; p < p1; ++p) {
        const int n0 = p * kNR, cols = std::min(kNR, N - n0);
        const float* b = block;
        if (src.panels)
          b = src.panels + size_t(p) * K * kNR + size_t(k0) * kNR;
        else
          pack_block(src.trans_b, k0, kc, n0, cols, src.B, src.ldb, block);
        const Epilogue e{alpha, beta, bias ? bias + n0 : nullptr, post};
        for (int m = m0; m < m1; m += kMR) {
          const int rows = std::min(kMR, m1 - m);
          const float* a = A + size_t(m) * rs + size_t(k0) * cs;
          kTiles[rows](kc, a, rs, cs, b, C + size_t(m) * ldc + n0, size_t(ldc), cols, first, last, e);
        }
      }
    }
  }
}

OwnGemmUse initial_use() {
  const char* env = std::getenv("PERCEPTRA_OWN_GEMM");
  if (env && *env == '0') return OwnGemmUse::Off;
  if (env && *env == '1') return OwnGemmUse::On;
  return OwnGemmUse::Rule;
}
std::atomic<OwnGemmUse> g_use{initial_use()};

}  // namespace

void set_cpu_own_gemm(OwnGemmUse use) { g_use = use; }

OwnGemmUse cpu_own_gemm_use() { return g_use; }

bool cpu_own_gemm(bool held_weights) {
  const OwnGemmUse use = g_use;
  if (use != OwnGemmUse::Rule) return use == OwnGemmUse::On;
  static const bool no_avx512 = !cpu_isa_has(dnnl_cpu_isa_avx512_core);
  return held_weights && no_avx512;
}

size_t own_gemm_panel_floats(int K, int N) { return size_t((N + kNR - 1) / kNR) * size_t(std::max(K, 0)) * kNR; }

void own_gemm_pack(bool trans_b, int K, int N, const float* B, int ldb, float* panels) {
  if (K <= 0 || N <= 0) return;  // no panels (and `panels` may be null)
  const int count = (N + kNR - 1) / kNR;
#pragma omp parallel for if (size_t(K) * N > (size_t(1) << 16))
  for (int p = 0; p < count; ++p)
    pack_block(trans_b, 0, K, p * kNR, std::min(kNR, N - p * kNR), B, ldb, panels + size_t(p) * K * kNR);
}

void own_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
               int ldb, float beta, float* C, int ldc, const float* bias, ConvPost post) {
  run(trans_a, M, N, K, alpha, A, lda, BSource{nullptr, trans_b, B, ldb}, beta, C, ldc, bias, post);
}

void own_sgemm_packed(bool trans_a, int M, int N, int K, float alpha, const float* A, int lda, const float* panels,
                      float beta, float* C, int ldc, const float* bias, ConvPost post) {
  run(trans_a, M, N, K, alpha, A, lda, BSource{panels, false, nullptr, 0}, beta, C, ldc, bias, post);
}

}  // namespace perceptra
