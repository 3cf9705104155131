// Winograd F(2x2, 3x3) (Lavin & Gray) on channel-blocked tensors, for the
// 3x3 stride-1 convolutions of inference chains. Per output tile of 2x2:
//   V = B^T d B      the 4x4 input patch d, 8 channels per vector
//   M = sum_c V U    16 independent products over the input channels, with
//                    U = G g G^T the transformed 3x3 filters
//   Y = A^T M A      the 2x2 outputs, then bias, shortcut, activation
// The tiles run in chunks whose V and M stay in L2, each product a 6x16
// register-tiled loop over C with U's slab in L1. The transforms use only
// 0, +-1 and 1/2, so results match a direct convolution to float rounding.
#include "core/backend/cpu/cpu_winograd.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/backend/cpu/cpu_kernel.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace perceptra {

namespace {

bool initial_on() {
  const char* e = std::getenv("PERCEPTRA_WINOGRAD");
  return !(e && std::strcmp(e, "0") == 0);
}
bool g_on = initial_on();
std::atomic<long> g_calls{0};

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));  // unaligned access

inline v8 ld(const float* p) { return *reinterpret_cast<const v8u*>(p); }
inline void st(float* p, v8 v) { *reinterpret_cast<v8u*>(p) = v; }
inline v8 splat(float s) { return v8{} + s; }
// One load instead of splat's add and shuffle (the products' inner loop).
inline v8 bcast(const float* p) {
#if defined(__AVX__)
  return _mm256_broadcast_ss(p);
#else
  return splat(*p);
#endif
}
inline v8 fmadd(v8 a, v8 b, v8 c) {
#if defined(__FMA__)
  return _mm256_fmadd_ps(a, b, c);
#else
  return a * b + c;
#endif
}
// max(0, x) and min(6, x) in this order keep a NaN, as PyTorch's ReLU does.
inline v8 vmax0(v8 x) {
#if defined(__AVX__)
  return _mm256_max_ps(v8{}, x);
#else
  for (int i = 0; i < 8; ++i) x[i] = 0.f > x[i] ? 0.f : x[i];
  return x;
#endif
}
inline v8 vmin6(v8 x) {
#if defined(__AVX__)
  return _mm256_min_ps(splat(6.f), x);
#else
  for (int i = 0; i < 8; ++i) x[i] = 6.f < x[i] ? 6.f : x[i];
  return x;
#endif
}

// Larger layers keep oneDNN: with U past L2 each chunk streams it from
// memory (128 -> 128 channels at 7x7, N = 32: 3.7 ms here, oneDNN 3.2 ms;
// 64 -> 64: 1.0 vs 1.3 ms).
constexpr size_t kMostChannelPairs = 64 * 64;
constexpr int kRows = 6;                           // tiles per register block
constexpr size_t kChunkBytes = size_t(192) << 10;  // one chunk's V and M

// Offsets of the 8 channels [8j, 8j + 8) at (n, h, w) in [N][C/b][H][W][b].
struct Blocked {
  int C, H, W, b;
  size_t at(int n, int j, int h, int w) const {
    const int c = 8 * j, blocks = (C + b - 1) / b;
    return ((size_t(n) * blocks + c / b) * H + h) * size_t(W) * b + size_t(w) * b + c % b;
  }
};

// U[xi][c][k] = (G g G^T)[xi] for the filter g = w[k][c].
void transform_weights(const ConvGeometry& g, const float* w, float* U) {
  const int C = g.C, K = g.K;
  for (int k = 0; k < K; ++k)
    for (int c = 0; c < C; ++c) {
      const float* f = w + (size_t(k) * C + c) * 9;
      float t[4][3];
      for (int j = 0; j < 3; ++j) {
        t[0][j] = f[j];
        t[1][j] = 0.5f * (f[j] + f[3 + j] + f[6 + j]);
        t[2][j] = 0.5f * (f[j] - f[3 + j] + f[6 + j]);
        t[3][j] = f[6 + j];
      }
      for (int i = 0; i < 4; ++i) {
        const float u[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]),
                            t[i][2]};
        for (int j = 0; j < 4; ++j) U[(size_t(i * 4 + j) * C + c) * K + k] = u[j];
      }
    }
}

// m[r][*] = sum_c v[r][c] u[c][*] for R tiles and NV vectors of outputs.
template <int R, int NV>
void product(const float* v, int ldv, const float* u, int ldu, int C, float* m, int ldm) {
  v8 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) acc[r][j] = v8{};
  for (int c = 0; c < C; ++c) {
    v8 b[NV];
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) b[j] = ld(u + size_t(c) * ldu + 8 * j);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const v8 a = bcast(v + size_t(r) * ldv + c);
#pragma GCC unroll 2
      for (int j = 0; j < NV; ++j) acc[r][j] = fmadd(a, b[j], acc[r][j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < NV; ++j) st(m + size_t(r) * ldm + 8 * j, acc[r][j]);
}

template <int NV>
void product_rows(int rows, const float* v, int ldv, const float* u, int ldu, int C, float* m, int ldm) {
  switch (rows) {
    case 6:
      return product<6, NV>(v, ldv, u, ldu, C, m, ldm);
    case 5:
      return product<5, NV>(v, ldv, u, ldu, C, m, ldm);
    case 4:
      return product<4, NV>(v, ldv, u, ldu, C, m, ldm);
    case 3:
      return product<3, NV>(v, ldv, u, ldu, C, m, ldm);
    case 2:
      return product<2, NV>(v, ldv, u, ldu, C, m, ldm);
    default:
      return product<1, NV>(v, ldv, u, ldu, C, m, ldm);
  }
}

struct Job {
  const ConvGeometry& g;
  Blocked in, out;
  const float* x;
  const float* U;
  const float* bias;
  ConvPost post;
  bool sum;
  float* y;
  int TW, TI, TB;  // tiles per row, per image, per chunk
};

// V[xi][t][c] for tiles [t0, t0 + nt) of the flattened (image, tile row,
// tile column) order.
__attribute__((noinline)) void input_transform(const Job& jb, long t0, int nt, float* V) {
  const ConvGeometry& g = jb.g;
  const int C = g.C, TB = jb.TB;
  for (int t = 0; t < nt; ++t) {
    const long gt = t0 + t;
    const int n = int(gt / jb.TI), r = int(gt % jb.TI);
    const int h0 = 2 * (r / jb.TW) - g.pad_h, w0 = 2 * (r % jb.TW) - g.pad_w;
    const bool inside = h0 >= 0 && h0 + 4 <= g.H && w0 >= 0 && w0 + 4 <= g.W;
    for (int j = 0; j < C / 8; ++j) {
      v8 d[4][4];
      if (inside) {
        const float* p = jb.x + jb.in.at(n, j, h0, w0);
        const size_t row = size_t(g.W) * jb.in.b;
        for (int a = 0; a < 4; ++a)
          for (int b = 0; b < 4; ++b) d[a][b] = ld(p + a * row + b * jb.in.b);
      } else {
        for (int a = 0; a < 4; ++a)
          for (int b = 0; b < 4; ++b) {
            const int h = h0 + a, w = w0 + b;
            d[a][b] = (h >= 0 && h < g.H && w >= 0 && w < g.W) ? ld(jb.x + jb.in.at(n, j, h, w)) : v8{};
          }
      }
      v8 s[4][4];
      for (int b = 0; b < 4; ++b) {
        s[0][b] = d[0][b] - d[2][b];
        s[1][b] = d[1][b] + d[2][b];
        s[2][b] = d[2][b] - d[1][b];
        s[3][b] = d[1][b] - d[3][b];
      }
      for (int a = 0; a < 4; ++a) {
        float* o = V + (size_t(a * 4) * TB + t) * C + 8 * j;
        const size_t step = size_t(TB) * C;
        st(o, s[a][0] - s[a][2]);
        st(o + step, s[a][1] + s[a][2]);
        st(o + 2 * step, s[a][2] - s[a][1]);
        st(o + 3 * step, s[a][1] - s[a][3]);
      }
    }
  }
}

__attribute__((noinline)) void products(const Job& jb, int nt, const float* V, float* M) {
  const int C = jb.g.C, K = jb.g.K, TB = jb.TB;
  for (int xi = 0; xi < 16; ++xi) {
    const float* v = V + size_t(xi) * TB * C;
    const float* u = jb.U + size_t(xi) * C * K;
    float* m = M + size_t(xi) * TB * K;
    int k0 = 0;
    for (; k0 + 16 <= K; k0 += 16)
      for (int t = 0; t < nt; t += kRows)
        product_rows<2>(std::min(kRows, nt - t), v + size_t(t) * C, C, u + k0, K, C, m + size_t(t) * K + k0, K);
    if (k0 < K)  // K % 16 == 8
      for (int t = 0; t < nt; t += kRows)
        product_rows<1>(std::min(kRows, nt - t), v + size_t(t) * C, C, u + k0, K, C, m + size_t(t) * K + k0, K);
  }
}

// The chunk's outputs from M, with bias, shortcut and activation.
__attribute__((noinline)) void output_transform(const Job& jb, long t0, int nt, const float* M) {
  const ConvGeometry& g = jb.g;
  const int K = g.K, TB = jb.TB;
  for (int t = 0; t < nt; ++t) {
    const long gt = t0 + t;
    const int n = int(gt / jb.TI), r = int(gt % jb.TI);
    const int oh = 2 * (r / jb.TW), ow = 2 * (r % jb.TW);
    for (int j = 0; j < K / 8; ++j) {
      v8 m[4][4];
      for (int xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] = ld(M + (size_t(xi) * TB + t) * K + 8 * j);
      v8 s[2][4];
      for (int b = 0; b < 4; ++b) {
        s[0][b] = m[0][b] + m[1][b] + m[2][b];
        s[1][b] = m[1][b] - m[2][b] - m[3][b];
      }
      const v8 bias = jb.bias ? ld(jb.bias + 8 * j) : v8{};
      for (int a = 0; a < 2; ++a) {
        if (oh + a >= g.P) break;
        const v8 yv[2] = {s[a][0] + s[a][1] + s[a][2] + bias, s[a][1] - s[a][2] - s[a][3] + bias};
        for (int b = 0; b < 2; ++b) {
          if (ow + b >= g.Q) break;
          float* p = jb.y + jb.out.at(n, j, oh + a, ow + b);
          v8 val = jb.sum ? yv[b] + ld(p) : yv[b];
          if (jb.post == ConvPost::ReLU)
            val = vmax0(val);
          else if (jb.post == ConvPost::ReLU6)
            val = vmin6(vmax0(val));
          st(p, val);
        }
      }
    }
  }
}

}  // namespace

void set_cpu_winograd(bool on) { g_on = on; }
bool cpu_winograd() { return g_on; }
long winograd_calls() { return g_calls.load(); }

bool winograd_applies(const ConvGeometry& g) {
  return g.R == 3 && g.S == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 && g.dil_w == 1 && g.groups == 1 &&
         g.C % 8 == 0 && g.K % 8 == 0 && g.C > 0 && g.K > 0 && size_t(g.C) * g.K <= kMostChannelPairs &&
         g.P == g.H + 2 * g.pad_h - 2 && g.Q == g.W + 2 * g.pad_w - 2 && g.P > 0 && g.Q > 0 && g.N > 0;
}

void winograd_conv_forward_blocked(const ConvGeometry& g, int bx, const float* x, const float* w, const float* bias,
                                   ConvPost post, bool sum, int by, float* y) {
  ++g_calls;
  CpuScratch U(size_t(16) * g.C * g.K);
  transform_weights(g, w, U.data());
  const int TW = (g.Q + 1) / 2, TI = ((g.P + 1) / 2) * TW;
  const size_t per_tile = size_t(16) * (g.C + g.K) * sizeof(float);
  const int TB = std::clamp(int(kChunkBytes / per_tile) / kRows * kRows, kRows, 16 * kRows);
  const long tiles = long(g.N) * TI, chunks = (tiles + TB - 1) / TB;
  const int threads = omp_get_max_threads();
  const size_t per_thread = size_t(16) * TB * (g.C + g.K);
  CpuScratch work(per_thread * size_t(threads));  // taken here: nothing may throw in the region
  const Job jb{g, {g.C, g.H, g.W, bx}, {g.K, g.P, g.Q, by}, x, U.data(), bias, post, sum, y, TW, TI, TB};
#pragma omp parallel num_threads(threads)
  {
    float* V = work.data() + per_thread * size_t(omp_get_thread_num());
    float* M = V + size_t(16) * TB * g.C;
#pragma omp for schedule(static)
    for (long c = 0; c < chunks; ++c) {
      const int nt = int(std::min<long>(TB, tiles - c * TB));
      input_transform(jb, c * TB, nt, V);
      products(jb, nt, V, M);
      output_transform(jb, c * TB, nt, M);
    }
  }
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
                                         float* dx) {
  const ConvGeometry t = winograd_backward_data_geometry(g);
  CpuScratch wt(size_t(g.K) * g.C * 9);  // wt[c][k] = w[k][c] rotated by 180 degrees
  for (int k = 0; k < g.K; ++k)
    for (int c = 0; c < g.C; ++c)
      for (int i = 0; i < 9; ++i) wt.data()[(size_t(c) * g.K + k) * 9 + i] = w[(size_t(k) * g.C + c) * 9 + 8 - i];
  winograd_conv_forward_blocked(t, by, dy, wt.data(), nullptr, ConvPost::None, false, bx, dx);
}

}  // namespace perceptra
