// Pooling of the CPU backend (twin: cuda/cuda_pool.cu).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_kernel.h"
#include "core/backend/cpu/cpu_lanes.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

// NaN wins (propagates, as in PyTorch); written as a select so it vectorises.
inline float max_nan(float best, float v) { return (v > best || v != v) ? v : best; }
// Equal, or both NaN; bitwise (no short-circuit) so loops using it vectorise.
inline bool same(float v, float t) { return (v == t) | ((v != v) & (t != t)); }

bool is_2x2_s2(const PoolGeometry& g) {
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
}

// The common 2x2/stride 2 unpadded case, no bounds checks. With an even
// width it runs in two flat passes (vertical max of each row pair, then of
// neighbouring columns), which vectorise even for the short rows of 28x28
// planes (measured 2.5-5x faster than the per-window loop).
void maxpool_2x2_plane(const PoolGeometry& g, const float* xp, float* yp) {
  if (g.W == 2 * g.Q) {
    thread_local std::vector<float> tmp;
    tmp.resize((size_t)g.P * g.W);
    float* t = tmp.data();
    for (int p = 0; p < g.P; ++p) {
      const float* r0 = xp + (size_t)2 * p * g.W;
      const float* r1 = r0 + g.W;
      float* tr = t + (size_t)p * g.W;
#pragma omp simd
      for (int w = 0; w < g.W; ++w) tr[w] = max_nan(r0[w], r1[w]);
    }
    const int n = g.P * g.Q;
#pragma omp simd
    for (int k = 0; k < n; ++k) yp[k] = max_nan(t[2 * k], t[2 * k + 1]);
    return;
  }
  for (int p = 0; p < g.P; ++p) {
    const float* r0 = xp + (size_t)2 * p * g.W;
    const float* r1 = r0 + g.W;
    float* yr = yp + (size_t)p * g.Q;
#pragma omp simd
    for (int q = 0; q < g.Q; ++q) {
      float m = max_nan(r0[2 * q], r0[2 * q + 1]);
      m = max_nan(m, r1[2 * q]);
      yr[q] = max_nan(m, r1[2 * q + 1]);
    }
  }
}

void maxpool_generic_plane(const PoolGeometry& g, const float* xp, float* yp) {
  for (int p = 0; p < g.P; ++p) {
    const int h0 = std::max(p * g.sh - g.ph, 0), h1 = std::min(p * g.sh - g.ph + g.kh, g.H);
    for (int q = 0; q < g.Q; ++q) {
      const int w0 = std::max(q * g.sw - g.pw, 0), w1 = std::min(q * g.sw - g.pw + g.kw, g.W);
      float best = -std::numeric_limits<float>::infinity();
      for (int h = h0; h < h1; ++h)
        for (int w = w0; w < w1; ++w) best = max_nan(best, xp[h * g.W + w]);
      yp[p * g.Q + q] = best;
    }
  }
}

// Gradient to the first maximum of each window in row-major window order
// (the one forward picked), found again by comparing x with y.
void maxpool_2x2_backward_plane(const PoolGeometry& g, const float* xp, const float* yp, const float* dyp, float* dxp) {
  for (int p = 0; p < g.P; ++p) {
    const float* r0 = xp + (size_t)2 * p * g.W;
    const float* r1 = r0 + g.W;
    float* d0 = dxp + (size_t)2 * p * g.W;
    float* d1 = d0 + g.W;
    const float* yr = yp + (size_t)p * g.Q;
    const float* dyr = dyp + (size_t)p * g.Q;
    // One output column per input column (each window's pair of columns
    // decides together), so loads and stores stay contiguous and vectorise.
    const int W2 = 2 * g.Q;
#pragma omp simd
    for (int w = 0; w < W2; ++w) {
      const int q = w >> 1;
      const float t = yr[q], d = dyr[q];
      const bool a = same(r0[2 * q], t);
      const bool b = !a && same(r0[2 * q + 1], t);
      const bool c = !a && !b && same(r1[2 * q], t);
      const bool odd = w & 1;
      d0[w] = (odd ? b : a) ? d : 0.f;
      d1[w] = (odd ? !(a || b || c) : c) ? d : 0.f;
    }
    if (g.W > 2 * g.Q) {  // odd width: the last column is in no window
      for (int w = 2 * g.Q; w < g.W; ++w) d0[w] = d1[w] = 0.f;
    }
  }
  for (int h = 2 * g.P; h < g.H; ++h)  // odd height: the last row neither
    std::fill(dxp + (size_t)h * g.W, dxp + (size_t)(h + 1) * g.W, 0.f);
}

void maxpool_generic_backward_plane(const PoolGeometry& g, const float* xp, const float* yp, const float* dyp,
                                    float* dxp) {
  std::fill(dxp, dxp + (size_t)g.H * g.W, 0.f);
  for (int p = 0; p < g.P; ++p) {
    const int h0 = std::max(p * g.sh - g.ph, 0), h1 = std::min(p * g.sh - g.ph + g.kh, g.H);
    for (int q = 0; q < g.Q; ++q) {
      const int w0 = std::max(q * g.sw - g.pw, 0), w1 = std::min(q * g.sw - g.pw + g.kw, g.W);
      const float t = yp[p * g.Q + q];
      bool done = false;
      for (int h = h0; h < h1 && !done; ++h)
        for (int w = w0; w < w1; ++w)
          if (same(xp[h * g.W + w], t)) {
            dxp[h * g.W + w] += dyp[p * g.Q + q];
            done = true;
            break;
          }
    }
  }
}

}  // namespace

// ---- max pooling without a workspace -------------------------------------

void CpuBackend::maxpool2d_forward(const PoolGeometry& g, const float* x, float* y) {
  PERCEPTRA_CPU_OP(kMaxPoolForward);
  const int planes = g.N * g.C;
  const bool fast = is_2x2_s2(g);
#pragma omp parallel for schedule(static) if ((size_t)planes * g.H * g.W > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * g.H * g.W;
    float* yp = y + (size_t)pl * g.P * g.Q;
    if (fast)
      maxpool_2x2_plane(g, xp, yp);
    else
      maxpool_generic_plane(g, xp, yp);
  }
}

void CpuBackend::maxpool2d_backward(const PoolGeometry& g, const float* x, const float* y, const float* dy, float* dx) {
  PERCEPTRA_CPU_OP(kMaxPoolBackward);
  const int planes = g.N * g.C;
  const bool fast = is_2x2_s2(g);
#pragma omp parallel for schedule(static) if ((size_t)planes * g.H * g.W > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const size_t in = (size_t)pl * g.H * g.W, out = (size_t)pl * g.P * g.Q;
    if (fast)
      maxpool_2x2_backward_plane(g, x + in, y + out, dy + out, dx + in);
    else
      maxpool_generic_backward_plane(g, x + in, y + out, dy + out, dx + in);
  }
}

// ---- max pooling with argmax (training) ----------------------------------
// Forward records, per output, the window offset i * kw + j of its first
// maximum (the element maxpool2d_backward would find), as a float so the
// 2x2 passes vectorise; backward scatters dy from it alone, reading neither
// x nor y (the op is memory-bound). cuda_pool.cu runs the same algorithm.

namespace {

// 2x2/stride 2 (SimpleCNN, LeNet): two flat passes like maxpool_2x2_plane, so
// short rows still vectorise: vertical max of each row pair (remembering which
// row won), then the max of neighbouring columns, whose winner decides the
// window offset.
void maxpool_2x2_argmax_plane(const PoolGeometry& g, const float* xp, float* yp, float* ap) {
  thread_local std::vector<float> tmp, low;
  tmp.resize((size_t)g.P * 2 * g.Q);
  low.resize(tmp.size());
  float* t = tmp.data();
  float* r = low.data();  // 1 where the lower row holds the column's maximum
  for (int p = 0; p < g.P; ++p) {
    const float* r0 = xp + (size_t)2 * p * g.W;
    const float* r1 = r0 + g.W;
    float* tr = t + (size_t)p * 2 * g.Q;
    float* rr = r + (size_t)p * 2 * g.Q;
#pragma omp simd
    for (int w = 0; w < 2 * g.Q; ++w) {
      const float m = max_nan(r0[w], r1[w]);
      tr[w] = m;
      rr[w] = same(r0[w], m) ? 0.f : 1.f;
    }
  }
  const int n = g.P * g.Q;
#pragma omp simd
  for (int k = 0; k < n; ++k) {
    const float c0 = t[2 * k], c1 = t[2 * k + 1];
    const float m = max_nan(c0, c1);
    yp[k] = m;
    const bool m0 = same(c0, m), m1 = same(c1, m);
    const bool upper0 = m0 & (r[2 * k] == 0.f), upper1 = m1 & (r[2 * k + 1] == 0.f);
    ap[k] = upper0 ? 0.f : upper1 ? 1.f : m0 ? 2.f : 3.f;
  }
}

void maxpool_2x2_backward_argmax_plane(const PoolGeometry& g, const float* ap, const float* dyp, float* dxp) {
  for (int p = 0; p < g.P; ++p) {
    const float* ar = ap + (size_t)p * g.Q;
    const float* dyr = dyp + (size_t)p * g.Q;
    float* d0 = dxp + (size_t)2 * p * g.W;
    float* d1 = d0 + g.W;
#pragma omp simd
    for (int q = 0; q < g.Q; ++q) {
      const float k = ar[q], d = dyr[q];
      d0[2 * q] = k == 0.f ? d : 0.f;
      d0[2 * q + 1] = k == 1.f ? d : 0.f;
      d1[2 * q] = k == 2.f ? d : 0.f;
      d1[2 * q + 1] = k == 3.f ? d : 0.f;
    }
    for (int w = 2 * g.Q; w < g.W; ++w) d0[w] = d1[w] = 0.f;  // odd width
  }
  for (int h = 2 * g.P; h < g.H; ++h)  // odd height
    std::fill(dxp + (size_t)h * g.W, dxp + (size_t)(h + 1) * g.W, 0.f);
}

// Any window: the maximum as maxpool_generic_plane, then its first position.
void maxpool_generic_argmax_plane(const PoolGeometry& g, const float* xp, float* yp, float* ap) {
  for (int p = 0; p < g.P; ++p) {
    const int h0 = std::max(p * g.sh - g.ph, 0), h1 = std::min(p * g.sh - g.ph + g.kh, g.H);
    for (int q = 0; q < g.Q; ++q) {
      const int w0 = std::max(q * g.sw - g.pw, 0), w1 = std::min(q * g.sw - g.pw + g.kw, g.W);
      float best = -std::numeric_limits<float>::infinity();
      for (int h = h0; h < h1; ++h)
        for (int w = w0; w < w1; ++w) best = max_nan(best, xp[h * g.W + w]);
      int offset = 0;
      bool found = false;
      for (int h = h0; h < h1 && !found; ++h)
        for (int w = w0; w < w1; ++w)
          if (same(xp[h * g.W + w], best)) {
            offset = (h - (p * g.sh - g.ph)) * g.kw + (w - (q * g.sw - g.pw));
            found = true;
            break;
          }
      yp[p * g.Q + q] = best;
      ap[p * g.Q + q] = static_cast<float>(offset);
    }
  }
}

// Overlapping windows add up in (p, q) order, as maxpool2d_backward does.
void maxpool_generic_backward_argmax_plane(const PoolGeometry& g, const float* ap, const float* dyp, float* dxp) {
  std::fill(dxp, dxp + (size_t)g.H * g.W, 0.f);
  for (int p = 0; p < g.P; ++p)
    for (int q = 0; q < g.Q; ++q) {
      const int offset = static_cast<int>(ap[p * g.Q + q]);
      const int h = p * g.sh - g.ph + offset / g.kw, w = q * g.sw - g.pw + offset % g.kw;
      dxp[h * g.W + w] += dyp[p * g.Q + q];
    }
}

// Channel-blocked training pooling (PoolGeometry::block B > 1): each window
// cell is a B-lane vector of channels, so the search runs for B channels at
// once. The same first maximum in row-major window order as the plane
// kernels, NaN first among equals; argmax is laid out as y. B is 16 on
// AVX-512, 8 on AVX2.
constexpr int kMaxPoolBlock = 16;

template <class F>
void for_each_blocked_slab(const PoolGeometry& g, F f) {
  const int CB = g.C / g.block;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n)
    for (int cb = 0; cb < CB; ++cb) f(size_t(n) * CB + cb);
}

template <int B>
void maxpool_argmax_blocked(const PoolGeometry& g, const float* x, float* y, float* argmax) {
  using F = LaneF<B>;
  const size_t in_plane = size_t(g.H) * g.W * B, out_plane = size_t(g.P) * g.Q * B;
  if (is_2x2_s2(g)) {  // SimpleCNN, LeNet: four vectors per output, no bounds
    for_each_blocked_slab(g, [&](size_t slab) {
      const float* xs = x + slab * in_plane;
      const size_t o = slab * out_plane;
      for (int p = 0; p < g.P; ++p) {
        const float* r0 = xs + size_t(2 * p) * g.W * B;
        const float* r1 = r0 + size_t(g.W) * B;
        for (int q = 0; q < g.Q; ++q) {
          F best = load<B>(r0 + 2 * q * B), arg = F{};
          take_if_greater<B>(load<B>(r0 + (2 * q + 1) * B), 1.f, best, arg);
          take_if_greater<B>(load<B>(r1 + 2 * q * B), 2.f, best, arg);
          take_if_greater<B>(load<B>(r1 + (2 * q + 1) * B), 3.f, best, arg);
          const size_t at = o + (size_t(p) * g.Q + q) * B;
          store<B>(y + at, best);
          store<B>(argmax + at, arg);
        }
      }
    });
    return;
  }
  for_each_blocked_slab(g, [&](size_t slab) {
    const float* xs = x + slab * in_plane;
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        // Windows are never empty (padding is at most half the kernel).
        const int top = p * g.sh - g.ph, left = q * g.sw - g.pw;
        const int h0 = std::max(top, 0), h1 = std::min(top + g.kh, g.H);
        const int w0 = std::max(left, 0), w1 = std::min(left + g.kw, g.W);
        F best = load<B>(xs + (size_t(h0) * g.W + w0) * B), arg = F{} + float((h0 - top) * g.kw + (w0 - left));
        for (int h = h0; h < h1; ++h)
          for (int w = h == h0 ? w0 + 1 : w0; w < w1; ++w)
            take_if_greater<B>(load<B>(xs + (size_t(h) * g.W + w) * B), float((h - top) * g.kw + (w - left)), best,
                               arg);
        const size_t at = slab * out_plane + (size_t(p) * g.Q + q) * B;
        store<B>(y + at, best);
        store<B>(argmax + at, arg);
      }
  });
}

template <int B>
void maxpool_backward_argmax_blocked(const PoolGeometry& g, const float* argmax, const float* dy, float* dx) {
  using F = LaneF<B>;
  const size_t in_plane = size_t(g.H) * g.W * B, out_plane = size_t(g.P) * g.Q * B;
  if (is_2x2_s2(g)) {
    // Windows tile the plane: every covered cell is written once (dy or 0),
    // so only an odd last row or column needs zeroing.
    for_each_blocked_slab(g, [&](size_t slab) {
      const float* ks = argmax + slab * out_plane;
      const float* ds = dy + slab * out_plane;
      float* dxs = dx + slab * in_plane;
      for (int p = 0; p < g.P; ++p) {
        float* r0 = dxs + size_t(2 * p) * g.W * B;
        float* r1 = r0 + size_t(g.W) * B;
        for (int q = 0; q < g.Q; ++q) {
          const F k = load<B>(ks + (size_t(p) * g.Q + q) * B), d = load<B>(ds + (size_t(p) * g.Q + q) * B);
          store<B>(r0 + 2 * q * B, k == 0.f ? d : F{});
          store<B>(r0 + (2 * q + 1) * B, k == 1.f ? d : F{});
          store<B>(r1 + 2 * q * B, k == 2.f ? d : F{});
          store<B>(r1 + (2 * q + 1) * B, k == 3.f ? d : F{});
        }
        if (g.W > 2 * g.Q) {  // odd width
          std::fill(r0 + size_t(2 * g.Q) * B, r0 + size_t(g.W) * B, 0.f);
          std::fill(r1 + size_t(2 * g.Q) * B, r1 + size_t(g.W) * B, 0.f);
        }
      }
      std::fill(dxs + size_t(2 * g.P) * g.W * B, dxs + in_plane, 0.f);  // odd height
    });
    return;
  }
  // Any window: zero the slab on the thread that scatters into it, then add
  // in (p, q) order as the plane kernels do (overlapping windows add up).
  // Each window cell's offset from the window's corner, by argmax code.
  std::vector<int> cell(size_t(g.kh) * g.kw);
  for (int i = 0; i < g.kh; ++i)
    for (int j = 0; j < g.kw; ++j) cell[size_t(i) * g.kw + j] = (i * g.W + j) * B;
  for_each_blocked_slab(g, [&](size_t slab) {
    float* dxs = dx + slab * in_plane;
    std::fill(dxs, dxs + in_plane, 0.f);
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        const size_t o = slab * out_plane + (size_t(p) * g.Q + q) * B;
        // The window's corner may lie in the padding; argmax never does.
        const std::ptrdiff_t corner = (std::ptrdiff_t(p * g.sh - g.ph) * g.W + (q * g.sw - g.pw)) * B;
        for (int l = 0; l < B; ++l) dxs[corner + cell[static_cast<int>(argmax[o + l])] + l] += dy[o + l];
      }
  });
}

bool blocked_pool_fits(const PoolGeometry& g) {
  PCHECK((g.block == 1 || g.block == 8 || g.block == kMaxPoolBlock) && g.C % g.block == 0,
         "max pooling: channel block " + std::to_string(g.block) + " of " + std::to_string(g.C) + " channels");
  return g.block > 1;
}

}  // namespace

void CpuBackend::maxpool2d_forward_argmax(const PoolGeometry& g, const float* x, float* y, float* argmax) {
  PERCEPTRA_CPU_OP(kMaxPoolForward);
  if (blocked_pool_fits(g))
    return g.block == 16 ? maxpool_argmax_blocked<16>(g, x, y, argmax) : maxpool_argmax_blocked<8>(g, x, y, argmax);
  const int planes = g.N * g.C;
  const bool fast = is_2x2_s2(g);
#pragma omp parallel for schedule(static) if ((size_t)planes * g.H * g.W > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * g.H * g.W;
    const size_t out = (size_t)pl * g.P * g.Q;
    if (fast)
      maxpool_2x2_argmax_plane(g, xp, y + out, argmax + out);
    else
      maxpool_generic_argmax_plane(g, xp, y + out, argmax + out);
  }
}

void CpuBackend::maxpool2d_backward_argmax(const PoolGeometry& g, const float* argmax, const float* dy, float* dx) {
  PERCEPTRA_CPU_OP(kMaxPoolBackward);
  if (blocked_pool_fits(g))
    return g.block == 16 ? maxpool_backward_argmax_blocked<16>(g, argmax, dy, dx)
                         : maxpool_backward_argmax_blocked<8>(g, argmax, dy, dx);
  const int planes = g.N * g.C;
  const bool fast = is_2x2_s2(g);
#pragma omp parallel for schedule(static) if ((size_t)planes * g.H * g.W > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const size_t out = (size_t)pl * g.P * g.Q;
    float* dxp = dx + (size_t)pl * g.H * g.W;
    if (fast)
      maxpool_2x2_backward_argmax_plane(g, argmax + out, dy + out, dxp);
    else
      maxpool_generic_backward_argmax_plane(g, argmax + out, dy + out, dxp);
  }
}

// ---- average pooling --------------------------------------------------------

void CpuBackend::avgpool2d_forward(const PoolGeometry& g, const float* x, float* y) {
  PERCEPTRA_CPU_OP(kAvgPool);
  const int planes = g.N * g.C;
  const float inv = 1.f / (g.kh * g.kw);
#pragma omp parallel for
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * g.H * g.W;
    float* yp = y + (size_t)pl * g.P * g.Q;
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        float s = 0.f;
        for (int i = 0; i < g.kh; ++i) {
          int h = p * g.sh - g.ph + i;
          if (h < 0 || h >= g.H) continue;
          for (int j = 0; j < g.kw; ++j) {
            int w = q * g.sw - g.pw + j;
            if (w >= 0 && w < g.W) s += xp[h * g.W + w];
          }
        }
        yp[p * g.Q + q] = s * inv;
      }
  }
}

void CpuBackend::avgpool2d_backward(const PoolGeometry& g, const float* dy, float* dx) {
  PERCEPTRA_CPU_OP(kAvgPool);
  const int planes = g.N * g.C;
  const float inv = 1.f / (g.kh * g.kw);
#pragma omp parallel for
  for (int pl = 0; pl < planes; ++pl) {
    const float* dyp = dy + (size_t)pl * g.P * g.Q;
    float* dxp = dx + (size_t)pl * g.H * g.W;
    std::fill(dxp, dxp + (size_t)g.H * g.W, 0.f);
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        float d = dyp[p * g.Q + q] * inv;
        for (int i = 0; i < g.kh; ++i) {
          int h = p * g.sh - g.ph + i;
          if (h < 0 || h >= g.H) continue;
          for (int j = 0; j < g.kw; ++j) {
            int w = q * g.sw - g.pw + j;
            if (w >= 0 && w < g.W) dxp[h * g.W + w] += d;
          }
        }
      }
  }
}

void CpuBackend::global_avgpool_forward(const float* x, float* y, int planes, int hw) {
  PERCEPTRA_CPU_OP(kGlobalAvgPool);
#pragma omp parallel for if ((size_t)planes * hw > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    const float* xp = x + (size_t)pl * hw;
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < hw; ++i) s += xp[i];
    y[pl] = s / hw;
  }
}

void CpuBackend::global_avgpool_backward(const float* dy, float* dx, int planes, int hw) {
  PERCEPTRA_CPU_OP(kGlobalAvgPool);
#pragma omp parallel for if ((size_t)planes * hw > kParallelMin)
  for (int pl = 0; pl < planes; ++pl) {
    float d = dy[pl] / hw;
    float* dxp = dx + (size_t)pl * hw;
    for (int i = 0; i < hw; ++i) dxp[i] = d;
  }
}

// ---- max pooling in a channel-blocked layout (inference chains) ----------

namespace {

// One block of B channels is one vector: each output is the lane-wise max of
// its window's vectors.
template <int B>
void maxpool_blocked(const PoolGeometry& g, const float* x, float* y) {
  const int CB = (g.C + B - 1) / B;
  const size_t in_plane = size_t(g.H) * g.W * B, out_plane = size_t(g.P) * g.Q * B;
  const bool two_by_two = is_2x2_s2(g);
#pragma omp parallel for collapse(2) schedule(static) if (size_t(g.N) * CB * in_plane > kParallelMin)
  for (int n = 0; n < g.N; ++n)
    for (int cb = 0; cb < CB; ++cb) {
      const float* xp = x + (size_t(n) * CB + cb) * in_plane;
      float* yp = y + (size_t(n) * CB + cb) * out_plane;
      if (two_by_two) {  // constant window: four vectors per output
        for (int p = 0; p < g.P; ++p) {
          const float* r0 = xp + size_t(2 * p) * g.W * B;
          const float* r1 = r0 + size_t(g.W) * B;
          float* o = yp + size_t(p) * g.Q * B;
          for (int q = 0; q < g.Q; ++q) {
            const float *a = r0 + 2 * q * B, *b = r1 + 2 * q * B;
#pragma omp simd
            for (int c = 0; c < B; ++c) {
              o[q * B + c] = max_nan(max_nan(a[c], a[B + c]), max_nan(b[c], b[B + c]));
            }
          }
        }
        continue;
      }
      for (int p = 0; p < g.P; ++p) {
        const int h0 = p * g.sh - g.ph, hs = std::max(h0, 0), he = std::min(h0 + g.kh, g.H);
        for (int q = 0; q < g.Q; ++q) {
          const int w0 = q * g.sw - g.pw, ws = std::max(w0, 0), we = std::min(w0 + g.kw, g.W);
          float m[B];
          for (int c = 0; c < B; ++c) m[c] = -std::numeric_limits<float>::infinity();
          for (int h = hs; h < he; ++h)
            for (int w = ws; w < we; ++w) {
              const float* v = xp + (size_t(h) * g.W + w) * B;
#pragma omp simd
              for (int c = 0; c < B; ++c) m[c] = max_nan(m[c], v[c]);
            }
          float* o = yp + (size_t(p) * g.Q + q) * B;
#pragma omp simd
          for (int c = 0; c < B; ++c) o[c] = m[c];
        }
      }
    }
}

}  // namespace

void maxpool2d_forward_blocked(const PoolGeometry& g, int block, const float* x, float* y) {
  if (block == 16)
    maxpool_blocked<16>(g, x, y);
  else
    maxpool_blocked<8>(g, x, y);
}

}  // namespace perceptra
