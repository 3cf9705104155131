// Winograd convolution (Lavin & Gray) on channel-blocked tensors, for 3x3
// stride-1 convolutions (forward and both gradients). Per output tile of
// M x M (M = 2 on 4x4 input patches, or 4 on 6x6):
//   V = B^T d B      the input patch d, 8 channels per vector (16 in the
//                    AVX-512 forward on nChw16c: one vector per pixel)
//   M = sum_c V U    (M + 2)^2 independent products over the input channels,
//                    with U = G g G^T the transformed 3x3 filters
//   Y = A^T M A      the outputs, then bias, shortcut, activation
// The tiles run in chunks whose V and M stay in L2, each product a 6x16
// (16 floats: 12x16 or 12x32) register-tiled loop over C with U's slab in L1. F(2x2)'s transforms use
// only 0, +-1 and 1/2; F(4x4)'s (4, 5, 1/6, 1/24) round a few times more
// than a direct sum (~6e-6 of the output's scale in the tests).
// The input gradient is the forward on dy with rotated, transposed filters;
// the weight gradient is the transposed algorithm (F(4x4)'s on every plane
// unless wide), dw = G^T (sum over tiles of (A dy A^T) * (B^T d B)) G, its
// sums a product over tiles per thread.
#include "core/backend/cpu/cpu_winograd.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_kernel.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

// The 16-float kernels' helpers return 64-byte vectors; on an AVX2 build
// GCC notes that such a return's ABI differs with AVX-512. They are all
// internal to this file (and inlined), so no call crosses that ABI.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace perceptra {

namespace {

const char* env_winograd() { return std::getenv("PERCEPTRA_WINOGRAD"); }
// Our 8-float kernels lost to oneDNN's direct AVX-512 convolution on every
// layer measured (bench_winograd, Zen with AVX-512: oneDNN / ours
// 0.18-0.99x; SimpleCNN training 16 % and ResNet-small 24 % faster
// without), so on AVX-512 only the forwards where the 16-float kernel wins
// run ours, unless PERCEPTRA_WINOGRAD asks. A fixed rule per machine, not a
// timing.
WinogradUse initial_use() {
  const char* e = env_winograd();
  if (e) return std::strcmp(e, "0") == 0 ? WinogradUse::Off : WinogradUse::On;
  return cpu_isa_has(dnnl_cpu_isa_avx512_core) ? WinogradUse::Rule : WinogradUse::On;
}
WinogradUse g_use = initial_use();
int env_tile() {
  const char* e = env_winograd();
  return e && std::strcmp(e, "2") == 0 ? 2 : e && std::strcmp(e, "4") == 0 ? 4 : 0;
}
int g_tile = env_tile();  // 0: by shape
std::atomic<long> g_calls{0}, g_calls16{0};

// Vectors of W floats: 8 (AVX2) everywhere, 16 (AVX-512) for the forward
// on nChw16c tensors, where one vector holds a pixel's whole channel block.
template <int W>
struct VecOf;
template <>
struct VecOf<8> {
  typedef float type __attribute__((vector_size(32)));
  typedef float unaligned __attribute__((vector_size(32), aligned(4)));
};
template <>
struct VecOf<16> {
  typedef float type __attribute__((vector_size(64)));
  typedef float unaligned __attribute__((vector_size(64), aligned(4)));
};
template <int W>
using vec = typename VecOf<W>::type;
typedef vec<8> v8;
template <class V>
constexpr int width() {
  return int(sizeof(V) / sizeof(float));
}

template <int W>
inline vec<W> ld(const float* p) {
  return *reinterpret_cast<const typename VecOf<W>::unaligned*>(p);
}
template <class V>
inline void st(float* p, V v) {
  *reinterpret_cast<typename VecOf<width<V>()>::unaligned*>(p) = v;
}
template <class V>
inline V splat(float s) {
  return V{} + s;
}
// One load instead of splat's add and shuffle (the products' inner loop).
template <int W>
inline vec<W> bcast(const float* p) {
#if defined(__AVX512F__)
  if constexpr (W == 16) return _mm512_set1_ps(*p);
#endif
#if defined(__AVX__)
  if constexpr (W == 8) return _mm256_broadcast_ss(p);
#endif
  return splat<vec<W>>(*p);
}
template <class V>
inline V fmadd(V a, V b, V c) {
#if defined(__AVX512F__)
  if constexpr (width<V>() == 16) return _mm512_fmadd_ps(a, b, c);
#endif
#if defined(__FMA__)
  if constexpr (width<V>() == 8) return _mm256_fmadd_ps(a, b, c);
#endif
  return a * b + c;
}
// max(lo, x) and min(hi, x) in this order keep a NaN x, as PyTorch's ReLU
// does (the instructions return their second operand when either is NaN).
template <class V>
inline V vmax(V lo, V x) {
#if defined(__AVX512F__)
  // (the zero-masked form: GCC 12 warns about _mm512_max_ps's undefined source)
  if constexpr (width<V>() == 16) return _mm512_maskz_max_ps(__mmask16(0xffff), lo, x);
#endif
#if defined(__AVX__)
  if constexpr (width<V>() == 8) return _mm256_max_ps(lo, x);
#endif
  for (int i = 0; i < width<V>(); ++i) x[i] = lo[i] > x[i] ? lo[i] : x[i];
  return x;
}
template <class V>
inline V vmin(V hi, V x) {
#if defined(__AVX512F__)
  if constexpr (width<V>() == 16) return _mm512_maskz_min_ps(__mmask16(0xffff), hi, x);
#endif
#if defined(__AVX__)
  if constexpr (width<V>() == 8) return _mm256_min_ps(hi, x);
#endif
  for (int i = 0; i < width<V>(); ++i) x[i] = hi[i] < x[i] ? hi[i] : x[i];
  return x;
}

// A post-op as bounds, min(hi, max(lo, v)): no branch per element (none:
// -inf and +inf, ReLU: 0 and +inf, ReLU6: 0 and 6).
template <class V>
struct Bounds {
  V lo, hi;
  explicit Bounds(ConvPost post)
      : lo(splat<V>(post == ConvPost::None ? -__builtin_inff() : 0.f)),
        hi(splat<V>(post == ConvPost::ReLU6 ? 6.f : __builtin_inff())) {}
  V operator()(V v) const { return vmin(hi, vmax(lo, v)); }
};

// The widest vector the forward uses: 16 where the compiler targets
// AVX-512 (the build is -march=native), else 8.
#if defined(__AVX512F__)
constexpr bool kHave16 = true;
#else
constexpr bool kHave16 = false;
#endif
int g_width = 0;  // the forward's vector width: 0 the widest, 8 forced

// Wider layers run "wide": with U past L2, per-chunk products would stream
// it from memory each chunk (128 -> 128 channels at 7x7, N = 32: 3.7 ms
// here, oneDNN 3.2 ms; 64 -> 64: 1.0 vs 1.3 ms). Wide, a large chunk's
// tiles are all transformed first and each of the (M + 2)^2 products is one
// sgemm over the chunk, reading U's slab once per chunk.
constexpr size_t kMostChannelPairs = 64 * 64;
constexpr size_t kWideChunkBytes = size_t(8) << 20;  // V and M (or Y) of a wide chunk
// Past this U takes over 37 MB: oneDNN keeps those layers.
constexpr size_t kMostWideChannelPairs = 512 * 512;
constexpr int kRows = 6;  // tiles per register block
// One chunk's V and M: L2-sized. F(4x4)'s U is 2.25x F(2x2)'s and is
// streamed once per chunk, so its chunks are larger.
constexpr size_t chunk_bytes(int tile) { return size_t(tile == 2 ? 192 : 384) << 10; }

// Past 64 x 64 channel pairs a layer runs wide (sgemm products over U).
bool is_wide(const ConvGeometry& g) { return size_t(g.C) * g.K > kMostChannelPairs; }
// Where F(4x4) beat F(2x2) and oneDNN with either vector width: layers that
// are not wide, on planes of 7 x 7 and more.
bool narrow_from_7x7(const ConvGeometry& g) { return !is_wide(g) && std::min(g.P, g.Q) >= 7; }

// Whether the 16-float forward can run g (whole 16-channel blocks on both
// sides), and whether it is where it beat oneDNN (planes of 7 x 7 and more,
// layers that are not wide).
bool sixteen_floats_fit(const ConvGeometry& g) { return kHave16 && g_width != 8 && g.C % 16 == 0 && g.K % 16 == 0; }
bool sixteen_floats_win(const ConvGeometry& g) { return sixteen_floats_fit(g) && narrow_from_7x7(g); }

// A tensor [N][ceil(C/b)][H][W][b] (oneDNN's nChw8c / nChw16c; b = 1 is
// plain NCHW, where the 8 channels of a vector lie H x W apart).
struct Blocked {
  int C, H, W, b;
  // Offset of channel c (a vector's first) at (n, 0, 0); pixels follow b
  // floats apart.
  size_t plane(int n, int c) const {
    const int blocks = (C + b - 1) / b;
    return (size_t(n) * blocks + c / b) * H * size_t(W) * b + c % b;
  }
  // ... at (n, h, w).
  size_t at(int n, int c, int h, int w) const { return plane(n, c) + (size_t(h) * W + w) * b; }
};

// The two algorithms, by output tile size M: F(2x2, 3x3) on 4x4 patches
// and F(4x4, 3x3) on 6x6 (Lavin & Gray's matrices, points 0, +-1, +-2).
template <int M>
struct Tile;

template <>
struct Tile<2> {
  static constexpr int A = 4;  // patch side
  // u[A i + j] = (G f G^T)[i][j] for a 3x3 filter f.
  static void weights(const float* f, float* u) {
    float t[4][3];
    for (int j = 0; j < 3; ++j) {
      t[0][j] = f[j];
      t[1][j] = 0.5f * (f[j] + f[3 + j] + f[6 + j]);
      t[2][j] = 0.5f * (f[j] - f[3 + j] + f[6 + j]);
      t[3][j] = f[6 + j];
    }
    for (int i = 0; i < 4; ++i) {
      u[4 * i] = t[i][0];
      u[4 * i + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
      u[4 * i + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
      u[4 * i + 3] = t[i][2];
    }
  }
  // o[(4i + j) * step] = (B^T d B)[i][j] for the patch d(a, b): a column of
  // d B at a time (the middle two share their loads), so at most ten vectors
  // are live; all sixteen of d at once spilled AVX2's registers.
  template <class D>
  __attribute__((always_inline)) static void input(const D& d, float* o, size_t step) {
    using V = decltype(d(0, 0));
    auto column = [&](int j, const V* e) {  // B^T e
      st(o + j * step, e[0] - e[2]);
      st(o + (4 + j) * step, e[1] + e[2]);
      st(o + (8 + j) * step, e[2] - e[1]);
      st(o + (12 + j) * step, e[1] - e[3]);
    };
    V e[4], f[4];
    for (int a = 0; a < 4; ++a) e[a] = d(a, 0) - d(a, 2);
    column(0, e);
    for (int a = 0; a < 4; ++a) {
      const V p = d(a, 1), q = d(a, 2);
      e[a] = p + q;
      f[a] = q - p;
    }
    column(1, e);
    column(2, f);
    for (int a = 0; a < 4; ++a) e[a] = d(a, 1) - d(a, 3);
    column(3, e);
  }
  // The weight gradient's transforms: A on an output-gradient column (2 ->
  // 4 values) and G^T on a column of sums (4 -> 3).
  static void a_col(const v8* a, v8* e) {
    e[0] = a[0];
    e[1] = a[0] + a[1];
    e[2] = a[0] - a[1];
    e[3] = -a[1];
  }
  static void gt_col(const float* m, int stride, float* o) {
    o[0] = m[0] + 0.5f * (m[stride] + m[2 * stride]);
    o[1] = 0.5f * (m[stride] - m[2 * stride]);
    o[2] = 0.5f * (m[stride] + m[2 * stride]) + m[3 * stride];
  }
  // y = A^T m A from m[(4i + j) * step], a column of m at a time; each row
  // of y goes to emit(a, row) as it is made.
  template <int W, class F>
  __attribute__((always_inline)) static void output(const float* m, size_t step, F emit) {
    using V = vec<W>;
    V s[2][4];
    for (int b = 0; b < 4; ++b) {
      const V m0 = ld<W>(m + b * step), m1 = ld<W>(m + (4 + b) * step), m2 = ld<W>(m + (8 + b) * step),
              m3 = ld<W>(m + (12 + b) * step);
      s[0][b] = m0 + m1 + m2;
      s[1][b] = m1 - m2 - m3;
    }
    for (int a = 0; a < 2; ++a) {
      const V y[2] = {s[a][0] + s[a][1] + s[a][2], s[a][1] - s[a][2] - s[a][3]};
      emit(a, y);
    }
  }
};

template <>
struct Tile<4> {
  static constexpr int A = 6;
  // G's rows: (1/4, 0, 0), -(1, 1, 1)/6, (-1, 1, -1)/6, (1/24, 1/12, 1/6),
  // (1/24, -1/12, 1/6), (0, 0, 1).
  static void g6(float f0, float f1, float f2, float* o, int stride) {
    o[0] = 0.25f * f0;
    o[stride] = -(f0 + f1 + f2) / 6.f;
    o[2 * stride] = (-f0 + f1 - f2) / 6.f;
    o[3 * stride] = f0 / 24.f + f1 / 12.f + f2 / 6.f;
    o[4 * stride] = f0 / 24.f - f1 / 12.f + f2 / 6.f;
    o[5 * stride] = f2;
  }
  static void weights(const float* f, float* u) {
    float t[6][3];  // G f
    for (int j = 0; j < 3; ++j) g6(f[j], f[3 + j], f[6 + j], &t[0][j], 3);
    for (int i = 0; i < 6; ++i) g6(t[i][0], t[i][1], t[i][2], u + 6 * i, 1);
  }
  // B^T's rows on six vectors.
  template <class V>
  static void bt(const V* d, V* o) {
    const V four = splat<V>(4.f), five = splat<V>(5.f), two = splat<V>(2.f);
    o[0] = fmadd(four, d[0], d[4]) - five * d[2];
    const V p = d[3] + d[4], q = four * (d[1] + d[2]);  // -4 d1 - 4 d2 + d3 + d4
    o[1] = p - q;
    const V r = d[4] - d[3], w = four * (d[1] - d[2]);  // 4 d1 - 4 d2 - d3 + d4
    o[2] = r + w;
    const V e = d[4] - d[2], h = two * (d[3] - d[1]);  // -2 d1 - d2 + 2 d3 + d4
    o[3] = e + h;
    o[4] = e - h;  // 2 d1 - d2 - 2 d3 + d4
    o[5] = fmadd(four, d[1], d[5]) - five * d[3];
  }
  template <class D>
  __attribute__((always_inline)) static void input(const D& d, float* o, size_t step) {
    using V = decltype(d(0, 0));
    V t[6][6];  // B^T d, a column at a time (in L1: 36 vectors do not fit registers)
    for (int b = 0; b < 6; ++b) {
      V c[6], r[6];
      for (int a = 0; a < 6; ++a) c[a] = d(a, b);
      bt(c, r);
      for (int i = 0; i < 6; ++i) t[i][b] = r[i];
    }
    for (int i = 0; i < 6; ++i) {
      V r[6];
      bt(t[i], r);
      for (int j = 0; j < 6; ++j) st(o + (6 * i + j) * step, r[j]);
    }
  }
  // A on four vectors (A's rows: (1,0,0,0), (1,1,1,1), (1,-1,1,-1),
  // (1,2,4,8), (1,-2,4,-8), (0,0,0,1)), and G^T on six sums.
  static void a_col(const v8* a, v8* e) {
    const v8 two = splat<v8>(2.f), four = splat<v8>(4.f);
    const v8 ev = a[0] + a[2], od = a[1] + a[3];
    const v8 ev4 = fmadd(four, a[2], a[0]), od4 = fmadd(four, a[3], a[1]);  // a0 + 4 a2, a1 + 4 a3
    e[0] = a[0];
    e[1] = ev + od;
    e[2] = ev - od;
    e[3] = fmadd(two, od4, ev4);  // a0 + 2 a1 + 4 a2 + 8 a3
    e[4] = ev4 - two * od4;
    e[5] = a[3];
  }
  static void gt_col(const float* m, int stride, float* o) {
    const float m0 = m[0], m1 = m[stride], m2 = m[2 * stride], m3 = m[3 * stride], m4 = m[4 * stride],
                m5 = m[5 * stride];
    o[0] = 0.25f * m0 - (m1 + m2) / 6.f + (m3 + m4) / 24.f;
    o[1] = (m2 - m1) / 6.f + (m3 - m4) / 12.f;
    o[2] = (m3 + m4 - m1 - m2) / 6.f + m5;
  }
  // A^T's rows on six vectors.
  template <class V>
  static void at(const V* m, V* y) {
    const V two = splat<V>(2.f), four = splat<V>(4.f), eight = splat<V>(8.f);
    const V p = m[1] + m[2], q = m[1] - m[2], r = m[3] + m[4], w = m[3] - m[4];
    y[0] = m[0] + p + r;
    y[1] = fmadd(two, w, q);
    y[2] = fmadd(four, r, p);
    y[3] = fmadd(eight, w, q) + m[5];
  }
  template <int W, class F>
  __attribute__((always_inline)) static void output(const float* m, size_t step, F emit) {
    using V = vec<W>;
    V s[4][6];  // A^T m, a column at a time
    for (int b = 0; b < 6; ++b) {
      V c[6], r[4];
      for (int i = 0; i < 6; ++i) c[i] = ld<W>(m + (6 * i + b) * step);
      at(c, r);
      for (int a = 0; a < 4; ++a) s[a][b] = r[a];
    }
    for (int a = 0; a < 4; ++a) {
      V y[4];
      at(s[a], y);
      emit(a, y);
    }
  }
};

// U[xi][c][k] = (G g G^T)[xi] for the filter g = w[k][c].
template <int M>
void transform_weights(const ConvGeometry& g, const float* w, float* U) {
  constexpr int X = Tile<M>::A * Tile<M>::A;
  const int C = g.C, K = g.K;
  // Eight filters (k) at a time into a local block, then 32 bytes into each
  // of the X slabs: one store per filter into slabs C * K floats apart (16
  // KB for 64 channels, one L1 set) took 1.2 ms for 64 x 64 F(4x4) filters.
#pragma omp parallel for schedule(static) if (size_t(C) * K >= 1024)
  for (int c = 0; c < C; ++c)
    for (int k0 = 0; k0 < K; k0 += 8) {
      const int kn = std::min(8, K - k0);
      float u[X][8];
      for (int k = 0; k < kn; ++k) {
        float f[X];
        Tile<M>::weights(w + (size_t(k0 + k) * C + c) * 9, f);
        for (int xi = 0; xi < X; ++xi) u[xi][k] = f[xi];
      }
      for (int xi = 0; xi < X; ++xi) std::copy_n(u[xi], kn, U + (size_t(xi) * C + c) * K + k0);
    }
}

// m[r][*] (+)= sum_i v[r * sr + i * si] u[i * ldu + *] over i < len, for R
// rows and NV vectors of outputs: the forward's products over channels
// (si = 1) and the weight gradient's sums over tiles (sr = 1, Acc).
struct Operands {
  const float* v;
  size_t sr, si;
  const float* u;
  size_t ldu;
  int len;
  float* m;
  size_t ldm;
};

template <int R, int NV, bool Acc, int W = 8>
void product(const Operands& o) {
  using V = vec<W>;
  V acc[R][NV];
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) acc[r][j] = Acc ? ld<W>(o.m + r * o.ldm + W * j) : V{};
  const float* v = o.v;
  const float* u = o.u;
  for (int i = 0; i < o.len; ++i, v += o.si, u += o.ldu) {
    V b[NV];
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) b[j] = ld<W>(u + W * j);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const V a = bcast<W>(v + r * o.sr);
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) acc[r][j] = fmadd(a, b[j], acc[r][j]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) st(o.m + r * o.ldm + W * j, acc[r][j]);
}

template <int NV, bool Acc>
void product_rows(int rows, const Operands& o) {
  switch (rows) {
    case 6:
      return product<6, NV, Acc>(o);
    case 5:
      return product<5, NV, Acc>(o);
    case 4:
      return product<4, NV, Acc>(o);
    case 3:
      return product<3, NV, Acc>(o);
    case 2:
      return product<2, NV, Acc>(o);
    default:
      return product<1, NV, Acc>(o);
  }
}

// Rows per register block with 16-float vectors: twelve keep 12 or 24
// products in flight, which the 16-channel layers' one-vector-wide
// products need to fill the FMA pipes.
constexpr int kRows16 = 12;

// All of m[rows][cols] (cols a multiple of W) in register blocks; `o` is
// the block at row 0, column 0, with o.v's rows and o.u's columns
// advancing. With 16-float vectors rows come in whole blocks of kRows16
// (the chunk's last block padded with zero rows).
template <bool Acc, int W = 8>
void products_over(int rows, int cols, Operands o) {
  constexpr int R = W == 16 ? kRows16 : kRows;
  const Operands at = o;
  for (int c0 = 0; c0 < cols; c0 += 2 * W)
    for (int r0 = 0; r0 < rows; r0 += R) {
      o.v = at.v + r0 * at.sr;
      o.u = at.u + c0;
      o.m = at.m + r0 * at.ldm + c0;
      const bool two = c0 + 2 * W <= cols;  // else cols % 2W == W
      if constexpr (W == 16) {
        if (two)
          product<R, 2, Acc, 16>(o);
        else
          product<R, 1, Acc, 16>(o);
      } else if (two) {
        product_rows<2, Acc>(std::min(R, rows - r0), o);
      } else {
        product_rows<1, Acc>(std::min(R, rows - r0), o);
      }
    }
}

struct Job {
  const ConvGeometry& g;
  Blocked in, out;
  const float* x;
  const float* U;
  const float* bias;
  ConvPost post;
  const float* add;  // a tensor laid out as y to add before the post-op, or null
  float* y;
  int TW, TI, TB;  // tiles per row, per image, per chunk
  bool pool2;      // y (and out) is the 2x2 stride-2 max pooling of the output
};

// Tile gt of the flattened (image, tile row, tile column) order, for tiles
// of side m: its image and its output corner.
struct TileAt {
  int n, oh, ow;
};
inline TileAt tile_at(const Job& jb, long gt, int m) {
  const int r = int(gt % jb.TI);
  return {int(gt / jb.TI), m * (r / jb.TW), m * (r % jb.TW)};
}

// Tiles of side m per output row and per image.
int tiles_per_row(const ConvGeometry& g, int m) { return (g.Q + m - 1) / m; }
int tiles_per_image(const ConvGeometry& g, int m) { return (g.P + m - 1) / m * tiles_per_row(g, m); }

// Tiles per chunk of a call that is not wide: V and M (or Y) within
// chunk_bytes, in whole register blocks of `rows`.
int chunk_tiles(int m, size_t per_tile, int rows = kRows) {
  return std::clamp(int(chunk_bytes(m) / per_tile) / rows * rows, rows, 16 * rows);
}

// The forward's job: x into y in chunks of TB tiles of side m.
Job forward_job(const ConvGeometry& g, int m, int bx, const float* x, const float* U, const float* bias, ConvPost post,
                const float* add, int by, float* y, int TB, bool pool2 = false) {
  const Blocked out = pool2 ? Blocked{g.K, g.P / 2, g.Q / 2, by} : Blocked{g.K, g.P, g.Q, by};
  return {g, {g.C, g.H, g.W, bx}, out, x, U, bias, post, add, y, tiles_per_row(g, m), tiles_per_image(g, m), TB, pool2};
}

// The weight gradient's job over x and dy (read only, through Job::y).
Job gradient_job(const ConvGeometry& g, int m, int bx, const float* x, int by, const float* dy, int TB) {
  return {g,
          {g.C, g.H, g.W, bx},
          {g.K, g.P, g.Q, by},
          x,
          nullptr,
          nullptr,
          ConvPost::None,
          nullptr,
          const_cast<float*>(dy),
          tiles_per_row(g, m),
          tiles_per_image(g, m),
          TB,
          false};
}

// What a patch's rows past the plane's edge read: A pixels of up to 16
// channels.
alignas(64) const float kZeroRow[6 * 16] = {};

// Rows [h0, h0 + rows) of a plane (clamped into its H rows, `row` floats
// apart), `floats` of each from p, brought towards L1.
inline void prefetch_patch(const float* p, int h0, int rows, int H, ptrdiff_t row, int floats) {
  for (int a = 0; a < rows; ++a) {
    const char* r = reinterpret_cast<const char*>(p + std::clamp(h0 + a, 0, H - 1) * row);
    for (int off = 0; off < floats * int(sizeof(float)); off += 64) __builtin_prefetch(r + off);
    __builtin_prefetch(r + floats * sizeof(float) - 1);
  }
}

// V[xi][t][c] for tiles [t0, t0 + nt) of the flattened (image, tile row,
// tile column) order.
template <int M, int W = 8>
__attribute__((noinline)) void input_transform(const Job& jb, long t0, int nt, float* V) {
  constexpr int A = Tile<M>::A;
  const ConvGeometry& g = jb.g;
  const int C = g.C, TB = jb.TB;
  for (int t = 0; t < nt; ++t) {
    const auto [n, oh, ow] = tile_at(jb, t0 + t, M);
    const int h0 = oh - g.pad_h, w0 = ow - g.pad_w;
    // Rows [a0, a1) and columns [b0, b1) of the patch are in the plane.
    const int a0 = std::max(0, -h0), a1 = std::min(A, g.H - h0), b0 = std::max(0, -w0), b1 = std::min(A, g.W - w0);
    const bool inside = a0 == 0 && a1 == A && b0 == 0 && b1 == A;
    const ptrdiff_t bx = jb.in.b, row = ptrdiff_t(g.W) * bx, corner = h0 * row + w0 * bx;
    const size_t step = size_t(TB) * C;
    // The next tile's patch rows, prefetched while this one transforms: the
    // first loads of each row waited on memory (a patch's rows in each
    // channel block are that many streams). ResNet-small's 28 x 28 layers at
    // batch 128: forward and weight gradient 18-28 % faster when memory was
    // slow (bench_winograd --train), training +5-30 % in 5 pairs.
    const float* next = nullptr;
    int next_h0 = 0;
    if (t + 1 < nt) {
      const auto [nn, noh, now] = tile_at(jb, t0 + t + 1, M);
      next = jb.x + jb.in.plane(nn, 0) + std::max(0, now - g.pad_w) * bx;
      next_h0 = noh - g.pad_h;
    }
    for (int c = 0; c < C; c += W) {
      const float* plane = jb.x + jb.in.plane(n, c);
      float* o = V + size_t(t) * C + c;
      if (next) prefetch_patch(next + (jb.in.plane(0, c) - jb.in.plane(0, 0)), next_h0, A, g.H, row, A * bx);
      if (inside) {
        const float* p = plane + corner;
        Tile<M>::input(
            [&](int a, int b) __attribute__((always_inline)) { return ld<W>(p + a * row + b * bx); }, o, step);
      } else {  // rows past the edge read zeros, columns past it are zero: no copy of the patch (its
                // memset and copy made the passes 4-5 % slower, bench_winograd --train)
        const float* rows[A];
        for (int a = 0; a < A; ++a) rows[a] = a >= a0 && a < a1 ? plane + (corner + a * row) : kZeroRow;
        Tile<M>::input(
            [&](int a, int b)
                __attribute__((always_inline)) { return b >= b0 && b < b1 ? ld<W>(rows[a] + b * bx) : vec<W>{}; },
            o, step);
      }
    }
  }
}

template <int Mt, int W = 8>
__attribute__((noinline)) void products(const Job& jb, int nt, const float* V, float* M) {
  const size_t C = size_t(jb.g.C), K = size_t(jb.g.K), TB = size_t(jb.TB);
  for (int xi = 0; xi < Tile<Mt>::A * Tile<Mt>::A; ++xi) {
    const Operands o{V + xi * TB * C, C, 1, jb.U + xi * C * K, K, int(C), M + xi * TB * K, K};
    products_over<false, W>(nt, int(K), o);
  }
}

// Y[xi][t][k] = (A dy_t A^T)[xi] for the chunk's Mt x Mt tiles of the
// output gradient (jb.y), zero past the plane's edge: the weight gradient is
// G^T (sum over tiles of Y (*) V) G, the transpose of the forward algorithm.
template <int Mt>
__attribute__((noinline)) void gradient_transform(const Job& jb, long t0, int nt, float* Y) {
  constexpr int A = Tile<Mt>::A;
  const ConvGeometry& g = jb.g;
  const int K = g.K, TB = jb.TB;

  for (int t = 0; t < nt; ++t) {
    const auto [n, oh, ow] = tile_at(jb, t0 + t, Mt);
    const int rows = std::min(Mt, g.P - oh), cols = std::min(Mt, g.Q - ow);
    const size_t by = size_t(jb.out.b), row = size_t(g.Q) * by;
    for (int j = 0; j < K / 8; ++j) {
      const float* p = jb.y + jb.out.at(n, 8 * j, oh, ow);
      v8 e[A][Mt];  // A along the columns of dy's tile (zero past the edge), then along the rows of e
      for (int b = 0; b < Mt; ++b) {
        v8 c[Mt], r[A];
        for (int a = 0; a < Mt; ++a) c[a] = a < rows && b < cols ? ld<8>(p + a * row + b * by) : v8{};
        Tile<Mt>::a_col(c, r);
        for (int i = 0; i < A; ++i) e[i][b] = r[i];
      }
      for (int i = 0; i < A; ++i) {
        v8 r[A];
        Tile<Mt>::a_col(e[i], r);
        for (int k = 0; k < A; ++k) st(Y + (size_t(A * i + k) * TB + t) * K + 8 * j, r[k]);
      }
    }
  }
}

// W channels of one tile into a blocked output (rows `row`, pixels `by`
// floats apart), plus the shortcut sc when given, each row stored as A^T m A
// makes it: no copy of the tile's Mt x Mt vectors, which AVX2's registers
// cannot hold. Whole: every row and column lies inside the plane.
template <int Mt, int W, bool Whole>
__attribute__((always_inline)) inline void store_tile(const float* m, size_t step, int rows, int cols, float* o,
                                                      const float* sc, size_t row, size_t by, vec<W> bias,
                                                      const Bounds<vec<W>>& post) {
  using V = vec<W>;
  const int nc = Whole ? Mt : cols;
  if (sc)
    Tile<Mt>::template output<W>(m, step, [&](int a, const V* y) {
      if (!Whole && a >= rows) return;
      for (int b = 0; b < nc; ++b) st(o + a * row + b * by, post(y[b] + bias + ld<W>(sc + a * row + b * by)));
    });
  else
    Tile<Mt>::template output<W>(m, step, [&](int a, const V* y) {
      if (!Whole && a >= rows) return;
      for (int b = 0; b < nc; ++b) st(o + a * row + b * by, post(y[b] + bias));
    });
}

// The chunk's outputs from M, with bias, shortcut and activation.
template <int Mt, int W = 8>
__attribute__((noinline)) void output_transform(const Job& jb, long t0, int nt, const float* M) {
  using V = vec<W>;
  const ConvGeometry& g = jb.g;
  const int K = g.K, TB = jb.TB;
  const size_t step = size_t(TB) * K;
  const Bounds<V> post(jb.post);
  for (int t = 0; t < nt; ++t) {
    const auto [n, oh, ow] = tile_at(jb, t0 + t, Mt);
    const int rows = std::min(Mt, g.P - oh), cols = std::min(Mt, g.Q - ow);
    const float* m = M + size_t(t) * K;
    if (!jb.pool2 && jb.out.b != 1) {  // blocked: each row of the tile stored as it is made
      const size_t by = size_t(jb.out.b), row = size_t(g.Q) * by;
      const bool whole = rows == Mt && cols == Mt;
      for (int k = 0; k < K; k += W) {
        float* corner = jb.y + jb.out.at(n, k, oh, ow);
        const float* sc = jb.add ? jb.add + (corner - jb.y) : nullptr;
        const V bias = jb.bias ? ld<W>(jb.bias + k) : V{};
        if (whole)
          store_tile<Mt, W, true>(m + k, step, Mt, Mt, corner, sc, row, by, bias, post);
        else
          store_tile<Mt, W, false>(m + k, step, rows, cols, corner, sc, row, by, bias, post);
      }
      continue;
    }
    for (int k = 0; k < K; k += W) {  // pooled or plain NCHW: the whole tile first
      V y[Mt][Mt];
      Tile<Mt>::template output<W>(m + k, step, [&](int a, const V* r) {
        for (int b = 0; b < Mt; ++b) y[a][b] = r[b];
      });
      const V bias = jb.bias ? ld<W>(jb.bias + k) : V{};
      if (jb.pool2) {  // an even tile pools to its own 2x2 (floor mode: an odd last row or column drops)
        for (int a = 0; a < rows / 2; ++a)
          for (int b = 0; b < cols / 2; ++b) {
            V best = post(y[2 * a][2 * b] + bias);
            for (int e = 1; e < 4; ++e) {  // window order; NaN wins, the first maximum stays (maxpool's rule)
              const V v = post(y[2 * a + e / 2][2 * b + e % 2] + bias);
              const auto take = (v > best) | ((v != v) & (best == best));
              best = take ? v : best;
            }
            st(jb.y + jb.out.at(n, k, oh / 2 + a, ow / 2 + b), best);
          }
        continue;
      }
      // Plain NCHW (no shortcut): each channel's rows from a local copy.
      float* corner = jb.y + jb.out.at(n, k, oh, ow);
      float buf[Mt][Mt][W];
      for (int a = 0; a < rows; ++a)
        for (int b = 0; b < cols; ++b) st(buf[a][b], post(y[a][b] + bias));
      const size_t plane = size_t(g.P) * g.Q;
      for (int l = 0; l < W; ++l)
        for (int a = 0; a < rows; ++a)
          for (int b = 0; b < cols; ++b) corner[l * plane + size_t(a) * g.Q + b] = buf[a][b][l];
    }
  }
}

// U for tile Mt: the prepared one, else transformed into `own`.
template <int Mt>
const float* filters_for(const ConvGeometry& g, const float* w, const WinogradFilters* ready, CpuScratch& own) {
  if (ready && ready->tile == Mt) return ready->U.data();
  own.get(size_t(Tile<Mt>::A * Tile<Mt>::A) * g.C * g.K);
  transform_weights<Mt>(g, w, own.data());
  return own.data();
}

// Tiles per chunk: at most `most`, as many chunks per thread (a 16-channel
// layer at batch 32 is ~0.2 ms: one thread's extra chunk left the other
// waiting ~10 % of it).
int balanced_chunk(long tiles, int most, int threads) {
  long chunks = (tiles + most - 1) / most;
  if (chunks > 1) chunks = (chunks + threads - 1) / threads * threads;
  return int((tiles + chunks - 1) / chunks);
}

template <int Mt, int W>
void forward(const ConvGeometry& g, int bx, const float* x, const float* w, const float* bias, ConvPost post,
             const float* add, int by, float* y, const WinogradFilters* ready, bool pool2) {
  ++g_calls;
  if (W == 16) ++g_calls16;
  constexpr int X = Tile<Mt>::A * Tile<Mt>::A;
  constexpr int rows = W == 16 ? kRows16 : kRows;
  CpuScratch own;
  const float* U = filters_for<Mt>(g, w, ready, own);
  const int threads = omp_get_max_threads();
  const long tiles = long(g.N) * tiles_per_image(g, Mt);
  const int per = balanced_chunk(tiles, chunk_tiles(Mt, size_t(X) * (g.C + g.K) * sizeof(float), rows), threads);
  const int TB = (per + rows - 1) / rows * rows;  // V's and M's rows per product: whole register blocks
  const long chunks = (tiles + per - 1) / per;
  const size_t per_thread = size_t(X) * TB * (g.C + g.K);
  CpuScratch work(per_thread * size_t(threads));  // taken here: nothing may throw in the region
  const Job jb = forward_job(g, Mt, bx, x, U, bias, post, add, by, y, TB, pool2);
#pragma omp parallel num_threads(threads)
  {
    float* V = work.data() + per_thread * size_t(omp_get_thread_num());
    float* M = V + size_t(X) * TB * g.C;
#pragma omp for schedule(static)
    for (long c = 0; c < chunks; ++c) {
      const int nt = int(std::min<long>(per, tiles - c * per));
      input_transform<Mt, W>(jb, c * per, nt, V);
      if constexpr (W == 16) {  // whole register blocks: zero rows past the chunk's last tile
        const int padded = (nt + rows - 1) / rows * rows;
        for (int xi = 0; xi < X; ++xi) std::fill_n(V + (size_t(xi) * TB + nt) * g.C, size_t(padded - nt) * g.C, 0.f);
      }
      products<Mt, W>(jb, nt, V, M);
      output_transform<Mt, W>(jb, c * per, nt, M);
    }
  }
}

// Tiles [t0, t0 + nt) of a wide chunk, split among the threads in runs of 8.
template <class F>
void over_tiles(int nt, F f) {
#pragma omp parallel for schedule(static)
  for (int s = 0; s < nt; s += 8) f(s, std::min(8, nt - s));
}

int wide_chunk_tiles(size_t per_tile, long tiles) {
  return int(std::clamp<long>(long(kWideChunkBytes / per_tile), 1, tiles));
}

template <int Mt>
void forward_wide(const ConvGeometry& g, int bx, const float* x, const float* w, const float* bias, ConvPost post,
                  const float* add, int by, float* y, const WinogradFilters* ready) {
  ++g_calls;
  constexpr int X = Tile<Mt>::A * Tile<Mt>::A;
  const size_t C = size_t(g.C), K = size_t(g.K);
  CpuScratch own;
  const float* U = filters_for<Mt>(g, w, ready, own);
  const long tiles = long(g.N) * tiles_per_image(g, Mt);
  const int TB = wide_chunk_tiles(X * (C + K) * sizeof(float), tiles);
  CpuScratch V(X * TB * C), M(X * TB * K);
  const Job jb = forward_job(g, Mt, bx, x, U, bias, post, add, by, y, TB);
  for (long t0 = 0; t0 < tiles; t0 += TB) {
    const int nt = int(std::min<long>(TB, tiles - t0));
    over_tiles(nt, [&](int s, int n) { input_transform<Mt>(jb, t0 + s, n, V.data() + s * C); });
    for (size_t xi = 0; xi < X; ++xi)
      cpu_sgemm(false, false, nt, int(K), int(C), 1.f, V.data() + xi * TB * C, int(C), U + xi * C * K, int(K), 0.f,
                M.data() + xi * TB * K, int(K));
    over_tiles(nt, [&](int s, int n) { output_transform<Mt>(jb, t0 + s, n, M.data() + s * K); });
  }
}

// dw[k][c] = G^T S[.][c][k] G from the sums S over tiles ([A^2][C][K]; the
// partials of `parts` threads, `stride` floats apart, are added first).
template <int Mt>
void weights_from_sums(const ConvGeometry& g, const float* S, size_t stride, int parts, float* dw) {
  constexpr int A = Tile<Mt>::A;
  const size_t C = size_t(g.C), K = size_t(g.K);
#pragma omp parallel for schedule(static)
  for (long kc = 0; kc < long(K * C); ++kc) {
    const size_t k = size_t(kc) / C, c = size_t(kc) % C;
    float m[A][A];
    for (int xi = 0; xi < A * A; ++xi) {
      float sum = 0.f;
      for (int th = 0; th < parts; ++th) sum += S[stride * th + (xi * C + c) * K + k];
      m[xi / A][xi % A] = sum;
    }
    float t[3][A];  // G^T m, a column at a time; then each row times G
    for (int j = 0; j < A; ++j) {
      float o[3];
      Tile<Mt>::gt_col(&m[0][j], A, o);
      for (int i = 0; i < 3; ++i) t[i][j] = o[i];
    }
    for (int i = 0; i < 3; ++i) Tile<Mt>::gt_col(t[i], 1, dw + (k * C + c) * 9 + i * 3);
  }
}

// db[k] = the sum of dy[n][k] over the plane, in double across images.
void bias_gradient(const ConvGeometry& g, const Blocked& out, const float* dy, float* db) {
#pragma omp parallel for schedule(static)
  for (int j = 0; j < g.K / 8; ++j) {
    double sum[8] = {};
    for (int n = 0; n < g.N; ++n) {
      v8 acc{};
      for (int h = 0; h < g.P; ++h)
        for (int w = 0; w < g.Q; ++w) acc += ld<8>(dy + out.at(n, 8 * j, h, w));
      for (int l = 0; l < 8; ++l) sum[l] += acc[l];
    }
    for (int l = 0; l < 8; ++l) db[8 * j + l] = float(sum[l]);
  }
}

template <int Mt>
void backward_weights_wide(const ConvGeometry& g, int bx, const float* x, int by, const float* dy, float* dw,
                           float* db) {
  ++g_calls;
  constexpr size_t X = Tile<Mt>::A * Tile<Mt>::A;
  const size_t C = size_t(g.C), K = size_t(g.K);
  const long tiles = long(g.N) * tiles_per_image(g, Mt);
  const int TB = wide_chunk_tiles(X * (C + K) * sizeof(float), tiles);
  CpuScratch V(X * TB * C), Y(X * TB * K), S(X * C * K);
  std::fill_n(S.data(), X * C * K, 0.f);
  const Job jb = gradient_job(g, Mt, bx, x, by, dy, TB);
  for (long t0 = 0; t0 < tiles; t0 += TB) {
    const int nt = int(std::min<long>(TB, tiles - t0));
    over_tiles(nt, [&](int s, int n) {
      input_transform<Mt>(jb, t0 + s, n, V.data() + s * C);
      gradient_transform<Mt>(jb, t0 + s, n, Y.data() + s * K);
    });
    for (size_t xi = 0; xi < X; ++xi)  // S[xi] (C x K) += V[xi]^T Y[xi]
      cpu_sgemm(true, false, int(C), int(K), nt, 1.f, V.data() + xi * TB * C, int(C), Y.data() + xi * TB * K, int(K),
                1.f, S.data() + xi * C * K, int(K));
  }
  weights_from_sums<Mt>(g, S.data(), 0, 1, dw);
  if (db) bias_gradient(g, jb.out, dy, db);
}

template <int Mt>
void backward_weights(const ConvGeometry& g, int bx, const float* x, int by, const float* dy, float* dw, float* db) {
  ++g_calls;
  constexpr size_t X = Tile<Mt>::A * Tile<Mt>::A;
  const size_t C = size_t(g.C), K = size_t(g.K);
  const int TB = chunk_tiles(Mt, X * (C + K) * sizeof(float));
  const long tiles = long(g.N) * tiles_per_image(g, Mt), chunks = (tiles + TB - 1) / TB;
  const int threads = omp_get_max_threads();
  // Per thread: a chunk's V and Y, and its own sums M[xi][c][k] over tiles.
  const size_t sums = X * C * K, per_thread = X * TB * (C + K) + sums;
  CpuScratch work(per_thread * size_t(threads));
  for (int th = 0; th < threads; ++th) std::fill_n(work.data() + per_thread * th + X * TB * (C + K), sums, 0.f);
  const Job jb = gradient_job(g, Mt, bx, x, by, dy, TB);
  const float* all = work.data();
#pragma omp parallel num_threads(threads)
  {
    float* V = work.data() + per_thread * size_t(omp_get_thread_num());
    float* Y = V + X * TB * C;
    float* M = Y + X * TB * K;
#pragma omp for schedule(static)
    for (long c = 0; c < chunks; ++c) {
      const int nt = int(std::min<long>(TB, tiles - c * TB));
      input_transform<Mt>(jb, c * TB, nt, V);
      gradient_transform<Mt>(jb, c * TB, nt, Y);
      for (size_t xi = 0; xi < X; ++xi)
        products_over<true>(int(C), int(K), {V + xi * TB * C, 1, C, Y + xi * TB * K, K, nt, M + xi * C * K, K});
    }
  }
  weights_from_sums<Mt>(g, all + X * TB * (C + K), per_thread, threads, dw);
  if (db) bias_gradient(g, jb.out, dy, db);
}

}  // namespace

void set_cpu_winograd(WinogradUse use) { g_use = use; }
WinogradUse cpu_winograd_use() { return g_use; }
bool cpu_winograd() { return g_use == WinogradUse::On; }
void set_winograd_tile(int m) { g_tile = m == 2 || m == 4 ? m : 0; }
void set_winograd_width(int w) { g_width = w == 8 ? 8 : 0; }
int winograd_tile_for(const ConvGeometry& g) {
  if (g_tile) return g_tile;
  // Layers that are not wide: F(4x4) on every plane from 7 x 7. The 16-float
  // kernel: F(4x4) 1.06-1.45x oneDNN where F(2x2) was 0.87-1.22x. The
  // 8-float one (AVX2, bench_winograd): 14 x 14 at 32 -> 32 channels 1.33x
  // against 1.22x, 32 -> 64 1.48x against 1.29x, 7 x 7 at 64 the same.
  if (narrow_from_7x7(g)) return 4;
  return std::min(g.P, g.Q) >= 16 ? 4 : 2;
}
long winograd_calls() { return g_calls.load(); }
long winograd_calls16() { return g_calls16.load(); }

bool winograd_forward_suits(const ConvGeometry& g, int bx, int by, bool filters_held) {
  if (g_use == WinogradUse::Off || !bx || !by || !winograd_applies(g, filters_held)) return false;
  if (g_use == WinogradUse::On) return true;
  return bx == 16 && by == 16 && sixteen_floats_win(g);
}

bool winograd_applies(const ConvGeometry& g, bool filters_held) {
  if (!(g.R == 3 && g.S == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1 && g.groups == 1 &&
        g.C % 8 == 0 && g.K % 8 == 0 && g.C > 0 && g.K > 0 && size_t(g.C) * g.K <= kMostWideChannelPairs &&
        g.P == g.H + 2 * g.pad_h - 2 && g.Q == g.W + 2 * g.pad_w - 2 && g.P > 0 && g.Q > 0 && g.N > 0))
    return false;
  // A wide layer transforms C x K filters per call (16 MB of U for 512
  // channels): worth it only over enough tiles. ResNet-18's 512-channel 7x7
  // layer at batch 8 (128 tiles) ran 0.75x oneDNN; 256 channels at 14x14
  // (392 tiles) 1.44x. At batch 16 (256 tiles) the 512-channel layers ran
  // as fast as oneDNN's (AVX2, interleaved: ResNet-18 training 12.9 / 9.9 /
  // 12.7 img/s against 9.5 / 12.8 / 13.9 without them), but their U, sums
  // and chunks took ResNet-18's training peak RSS from 883 to 914 MB, above
  // PyTorch's 897: they need 512 tiles. Held filters are transformed once
  // per inference pass: there ResNet-18's 512-channel layers at batch 16
  // ran ours (bench_imagenet, 4 interleaved pairs: 43.7 / 32.2 / 49.2 /
  // 32.6 img/s on oneDNN, 46.3 / 47.4 / 46.5 / 49.5 on ours; the pass's
  // peak RSS 392 -> 422 MB, far under training's).
  if (filters_held) return true;
  const int m = winograd_tile_for(g);
  const long tiles = long(g.N) * tiles_per_image(g, m);
  return !is_wide(g) || size_t(tiles) * 512 >= size_t(g.C) * g.K;
}

void winograd_prepare_filters(const ConvGeometry& g, const float* w, WinogradFilters& f) {
  f.tile = winograd_tile_for(g);
  const int A = f.tile + 2;
  f.U.get(size_t(A) * A * g.C * g.K);
  if (f.tile == 2)
    transform_weights<2>(g, w, f.U.data());
  else
    transform_weights<4>(g, w, f.U.data());
}

namespace {
struct HeldFilters {
  const float* w = nullptr;
  int C = 0, K = 0;
  WinogradFilters f;
};
thread_local std::deque<HeldFilters> t_held;  // a deque: entries stay where they are
void drop_held_filters() { t_held.clear(); }
}  // namespace

const WinogradFilters* winograd_held_filters(const ConvGeometry& g, const float* w) {
  if (!weights_held()) return nullptr;
  const int tile = winograd_tile_for(g);
  for (const HeldFilters& h : t_held)
    if (h.w == w && h.C == g.C && h.K == g.K && h.f.tile == tile) return &h.f;
  static const bool registered = (on_weights_released(drop_held_filters), true);
  (void)registered;
  HeldFilters& h = t_held.emplace_back();
  h.w = w;
  h.C = g.C;
  h.K = g.K;
  winograd_prepare_filters(g, w, h.f);
  return &h.f;
}

bool winograd_forward_pools(const ConvGeometry& g, const PoolGeometry& p, int by) {
  return !is_wide(g) && winograd_tile_for(g) == 4 && (by == 8 || by == 16) && p.kh == 2 && p.kw == 2 && p.sh == 2 &&
         p.sw == 2 && p.ph == 0 && p.pw == 0 && p.N == g.N && p.C == g.K && p.H == g.P && p.W == g.Q;
}

void winograd_conv_forward_blocked(const ConvGeometry& g, int bx, const float* x, const float* w, const float* bias,
                                   ConvPost post, const float* add, int by, float* y, const WinogradFilters* filters,
                                   const PoolGeometry* pool) {
  PCHECK(!add || by > 1, "Winograd: an output in plain NCHW takes no shortcut");
  if (pool) {
    PCHECK(!add && winograd_forward_pools(g, *pool, by), "Winograd: this convolution cannot pool in its output");
    const bool w16 = bx == 16 && by == 16 && sixteen_floats_fit(g);
    return (w16 ? forward<4, 16> : forward<4, 8>)(g, bx, x, w, bias, post, nullptr, by, y, filters, true);
  }
  const bool wide = is_wide(g);
  // 16-float vectors where every vector is one whole channel block.
  const bool w16 = bx == 16 && (by == 16 || by == 1) && sixteen_floats_fit(g);
  const int m = winograd_tile_for(g);
  if (wide)
    (m == 2 ? forward_wide<2> : forward_wide<4>)(g, bx, x, w, bias, post, add, by, y, filters);
  else if (w16)
    (m == 2 ? forward<2, 16> : forward<4, 16>)(g, bx, x, w, bias, post, add, by, y, filters, false);
  else
    (m == 2 ? forward<2, 8> : forward<4, 8>)(g, bx, x, w, bias, post, add, by, y, filters, false);
}

void winograd_conv_backward_weights_blocked(const ConvGeometry& g, int bx, const float* x, int by, const float* dy,
                                            float* dw, float* db) {
  // F(4x4)'s transposed algorithm even on small planes, unlike the forward:
  // at N = 128 it took 6.2 / 3.8 / 3.8 / 7.8 ms against F(2x2)'s 8.0 / 4.5 /
  // 5.3 / 8.9 (16 ch at 28x28, 32 at 14x14, 64 at 7x7, 32 -> 64 at 14x14).
  const bool wide = is_wide(g);
  const int tile = g_tile ? g_tile : wide ? winograd_tile_for(g) : 4;
  if (tile == 2)
    (wide ? backward_weights_wide<2> : backward_weights<2>)(g, bx, x, by, dy, dw, db);
  else
    (wide ? backward_weights_wide<4> : backward_weights<4>)(g, bx, x, by, dy, dw, db);
}

ConvGeometry winograd_backward_data_geometry(const ConvGeometry& g) {
  ConvGeometry t = g;
  t.C = g.K;
  t.K = g.C;
  t.H = g.P;
  t.W = g.Q;
  t.P = g.H;
  t.Q = g.W;
  t.pad_h = 2 - g.pad_h;
  t.pad_w = 2 - g.pad_w;
  if (t.pad_h < 0 || t.pad_w < 0) t.R = 0;  // no such convolution: winograd_applies says no
  return t;
}

void winograd_conv_backward_data_blocked(const ConvGeometry& g, int by, const float* dy, const float* w, int bx,
                                         float* dx, const float* add) {
  const ConvGeometry t = winograd_backward_data_geometry(g);
  CpuScratch wt(size_t(g.K) * g.C * 9);  // wt[c][k] = w[k][c] rotated by 180 degrees
  for (int k = 0; k < g.K; ++k)
    for (int c = 0; c < g.C; ++c)
      for (int i = 0; i < 9; ++i) wt.data()[(size_t(c) * g.K + k) * 9 + i] = w[(size_t(k) * g.C + c) * 9 + 8 - i];
  winograd_conv_forward_blocked(t, by, dy, wt.data(), nullptr, ConvPost::None, add, bx, dx);
}

}  // namespace perceptra
