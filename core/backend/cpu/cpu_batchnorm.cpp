// Batch normalisation of the CPU backend (twin: cuda/cuda_batchnorm.cu).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_kernel.h"
#include "core/backend/cpu/cpu_lanes.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

// Channel-blocked tensors [N, C/B, HW, B] (B = 16 or 8): each position holds
// B channels side by side, so every pass is a run of B-lane vectors and the
// work splits over samples and channel blocks (a 16-channel layer is one
// block). Per (sample, block) slab the sums are float, one vector of B
// lanes, and slabs accumulate in double: the plain kernels' precision.

// The training forward's per-channel affine map y = x a + e (a = gamma
// invstd, e = beta - mean a), one definition for the forward and for the
// backward that recomputes the fused ReLU's mask: the same float operations,
// so the same bits.
inline void scale_shift(float gamma, float beta, float mean, float invstd, float& a, float& e) {
  a = gamma * invstd;
  e = beta - mean * a;
}
template <int B>
inline LaneF<B> affine(LaneF<B> v, const float* a, const float* e, int c0) {
  return v * load<B>(a + c0) + load<B>(e + c0);
}

// Where the fused ReLU's output was > 0: read from that output (y), or
// recomputed from x as the forward computed it (a and e per channel), which
// saves reading y in both passes of the backward. Neither: no mask.
template <int B>
struct ReluMask {
  const float* y = nullptr;
  const float *a = nullptr, *e = nullptr;
};

// The gradient at one position: dy, zeroed where the fused ReLU's output
// was <= 0 (x is the batch norm's input there); a NaN output passes dy, as
// PyTorch's threshold_backward does.
template <int B>
inline LaneF<B> masked_dy(const float* dy, const ReluMask<B>& m, LaneF<B> x, size_t o, int c0) {
  const LaneF<B> d = load<B>(dy + o);
  if (m.a) return affine<B>(x, m.a, m.e, c0) <= 0.f ? LaneF<B>{} : d;
  return m.y ? (load<B>(m.y + o) <= 0.f ? LaneF<B>{} : d) : d;
}

// Per channel, the sums over samples and positions that f(s1, s2, x, dy, c0)
// accumulates for the B channels from c0 (dy is zero when not given; out2
// may be null when f leaves s2 alone).
template <int B, class F>
void blocked_channel_sums(const float* x, const float* dy, const ReluMask<B>& mask, int N, int C, int HW, F f,
                          double* out1, double* out2) {
  const int CB = C / B, T = omp_get_max_threads();
  std::vector<double> part(size_t(T) * 2 * C, 0.0);
#pragma omp parallel num_threads(T)
  {
    double* acc = part.data() + size_t(omp_get_thread_num()) * 2 * C;
#pragma omp for collapse(2) schedule(static)
    for (int n = 0; n < N; ++n)
      for (int cb = 0; cb < CB; ++cb) {
        const size_t off = (size_t(n) * CB + cb) * size_t(HW) * B;
        LaneF<B> s1{}, s2{};
        for (int p = 0; p < HW; ++p) {
          const size_t o = off + size_t(p) * B;
          const LaneF<B> v = load<B>(x + o);
          f(s1, s2, v, dy ? masked_dy<B>(dy, mask, v, o, cb * B) : LaneF<B>{}, cb * B);
        }
        for (int l = 0; l < B; ++l) {
          acc[cb * B + l] += s1[l];
          acc[C + cb * B + l] += s2[l];
        }
      }
  }
  for (int c = 0; c < C; ++c) {
    double a = 0, d = 0;
    for (int t = 0; t < T; ++t) {
      a += part[size_t(t) * 2 * C + c];
      d += part[size_t(t) * 2 * C + C + c];
    }
    out1[c] = a;
    if (out2) out2[c] = d;
  }
}

// y = f(x, dy, c0) vector by vector over a blocked tensor (dy as in
// blocked_channel_sums).
template <int B, class F>
void blocked_map(const float* x, const float* dy, const ReluMask<B>& mask, float* y, int N, int C, int HW, F f) {
  const int CB = C / B;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < N; ++n)
    for (int cb = 0; cb < CB; ++cb) {
      const size_t off = (size_t(n) * CB + cb) * size_t(HW) * B;
      for (int p = 0; p < HW; ++p) {
        const size_t o = off + size_t(p) * B;
        const LaneF<B> v = load<B>(x + o);
        store<B>(y + o, f(v, dy ? masked_dy<B>(dy, mask, v, o, cb * B) : LaneF<B>{}, cb * B));
      }
    }
}

// Per channel, the sum and the sum of squared deviations from the mean in
// one read of x: each (sample, block) slab's float sum gives its mean mu_i;
// then, while the slab is still in cache, its deviations from mu_i: q_i =
// sum (v - mu_i)^2 and r_i = sum (v - mu_i) (not 0: mu_i is rounded). Over
// slabs, in double: sum = sum_i (HW mu_i + r_i) and sum_p (v - mean)^2 =
// q_i + 2 (mu_i - mean) r_i + HW (mu_i - mean)^2, exactly. Small deviations
// summed, no cancellation: as stable as the two-pass variance it replaced,
// and the mean no longer loses a large plane's digits to a float sum (the
// old per-slab float sums missed a mean of 1000 by 0.002 on 97 x 97
// planes). One read of x instead of two, but no faster on ResNet-small
// here: its activations sit in the 32 MB L3 either way.
template <int B>
void blocked_sum_and_m2(const float* x, int N, int C, int HW, double* sum, double* m2) {
  using V = LaneF<B>;
  const int CB = C / B;
  // Per slab: mu_i, q_i and r_i for each of its B channels.
  std::vector<float> slab_mu(size_t(N) * C), slab_q(size_t(N) * C), slab_r(size_t(N) * C);
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < N; ++n)
    for (int cb = 0; cb < CB; ++cb) {
      const float* xs = x + (size_t(n) * CB + cb) * size_t(HW) * B;
      V sv{};
      for (int p = 0; p < HW; ++p) sv += load<B>(xs + size_t(p) * B);
      const V mu = sv / float(HW);
      V q{}, r{};
      for (int p = 0; p < HW; ++p) {
        const V d = load<B>(xs + size_t(p) * B) - mu;
        q += d * d;
        r += d;
      }
      const size_t at = size_t(n) * C + size_t(cb) * B;
      store<B>(slab_mu.data() + at, mu);
      store<B>(slab_q.data() + at, q);
      store<B>(slab_r.data() + at, r);
    }
  const double count = double(N) * HW;
  for (int c = 0; c < C; ++c) {
    // The slab's exact sum is HW mu_i + r_i: summed so, the mean keeps the
    // digits a float sum of a large plane drops (s_i only gave mu_i).
    double total = 0;
    for (int n = 0; n < N; ++n) total += HW * double(slab_mu[size_t(n) * C + c]) + slab_r[size_t(n) * C + c];
    const double mean = total / count;
    double acc = 0;
    for (int n = 0; n < N; ++n) {
      const size_t at = size_t(n) * C + c;
      const double mu = slab_mu[at], off = mu - mean;
      acc += double(slab_q[at]) + 2.0 * off * double(slab_r[at]) + HW * off * off;
    }
    sum[c] = total;
    m2[c] = acc;
  }
}

template <int B>
void forward_train_blocked(const float* x, float* y, const float* gamma, const float* beta, float* save_mean,
                           float* save_invstd, float* running_mean, float* running_var, int N, int C, int HW,
                           float momentum, float eps, bool relu, const float* add) {
  using V = LaneF<B>;
  const double count = double(N) * HW;
  std::vector<double> sum(static_cast<size_t>(C)), ss(static_cast<size_t>(C));
  blocked_sum_and_m2<B>(x, N, C, HW, sum.data(), ss.data());
  std::vector<float> a(static_cast<size_t>(C)), e(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c) {
    const double mean = sum[size_t(c)] / count, var = ss[size_t(c)] / count;
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = invstd;
    const double unbiased = count > 1 ? ss[size_t(c)] / (count - 1) : var;
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * static_cast<float>(mean);
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * static_cast<float>(unbiased);
    scale_shift(gamma[c], beta[c], save_mean[c], invstd, a[size_t(c)], e[size_t(c)]);
  }
  const float *pa = a.data(), *pe = e.data();
  const float lo = relu ? 0.f : -std::numeric_limits<float>::infinity();
  // The shortcut to add comes in as blocked_map's second operand (zeros
  // without one).
  blocked_map<B>(x, add, ReluMask<B>{}, y, N, C, HW, [pa, pe, lo, add](V v, V s, int c0) {
    V t = affine<B>(v, pa, pe, c0);
    if (add) t += s;
    return t < lo ? V{} + lo : t;  // std::max(t, lo): NaN stays
  });
}

template <int B>
void backward_blocked(const float* x, const float* dy, const float* gamma, const float* save_mean,
                      const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C, int HW,
                      const float* relu_y, const float* beta) {
  using V = LaneF<B>;
  const double count = double(N) * HW;
  ReluMask<B> mask;
  std::vector<float> a, e;
  if (relu_y && beta) {
    a.resize(size_t(C));
    e.resize(size_t(C));
    for (int c = 0; c < C; ++c)
      scale_shift(gamma[c], beta[c], save_mean[c], save_invstd[c], a[size_t(c)], e[size_t(c)]);
    mask.a = a.data();
    mask.e = e.data();
  } else {
    mask.y = relu_y;
  }
  std::vector<double> sdy(static_cast<size_t>(C)), sdyx(static_cast<size_t>(C));
  blocked_channel_sums<B>(
      x, dy, mask, N, C, HW,
      [save_mean](V& s1, V& s2, V v, V d, int c0) {
        s1 += d;
        s2 += d * (v - load<B>(save_mean + c0));
      },
      sdy.data(), sdyx.data());
  std::vector<float> k(static_cast<size_t>(C)), mdy(static_cast<size_t>(C)), mdyx(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c) {
    const double dyx = sdyx[size_t(c)] * save_invstd[c];
    dbeta[c] = static_cast<float>(sdy[size_t(c)]);
    dgamma[c] = static_cast<float>(dyx);
    k[size_t(c)] = gamma[c] * save_invstd[c];
    mdy[size_t(c)] = static_cast<float>(sdy[size_t(c)] / count);
    mdyx[size_t(c)] = static_cast<float>(dyx / count);
  }
  const float *pk = k.data(), *pmdy = mdy.data(), *pmdyx = mdyx.data();
  // dx = gamma*invstd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat))
  blocked_map<B>(x, dy, mask, dx, N, C, HW, [=](V v, V d, int c0) {
    const V xhat = (v - load<B>(save_mean + c0)) * load<B>(save_invstd + c0);
    return load<B>(pk + c0) * (d - load<B>(pmdy + c0) - xhat * load<B>(pmdyx + c0));
  });
}

void check_block(int b, int C) {
  PCHECK((b == 8 || b == 16) && C % b == 0,
         "batch norm: channel block " + std::to_string(b) + " of " + std::to_string(C));
}

}  // namespace

void CpuBackend::batchnorm_forward_train(const float* x, float* y, const float* gamma, const float* beta,
                                         float* save_mean, float* save_invstd, float* running_mean, float* running_var,
                                         int N, int C, int HW, float momentum, float eps, int block, bool relu,
                                         const float* add) {
  PERCEPTRA_CPU_OP(kBatchNorm);
  if (block != 1) {
    check_block(block, C);
    return (block == 16 ? forward_train_blocked<16> : forward_train_blocked<8>)(x, y, gamma, beta, save_mean,
                                                                                save_invstd, running_mean, running_var,
                                                                                N, C, HW, momentum, eps, relu, add);
  }
  const double count = (double)N * HW;
#pragma omp parallel for
  for (int c = 0; c < C; ++c) {
    // Sums per plane in float (vectorised), planes accumulated in double.
    double s = 0, ss = 0;
    for (int n = 0; n < N; ++n) {
      const float* xp = x + ((size_t)n * C + c) * HW;
      float ps = 0.f;
#pragma omp simd reduction(+ : ps)
      for (int i = 0; i < HW; ++i) ps += xp[i];
      s += ps;
    }
    const double mean = s / count;
    const float meanf = static_cast<float>(mean);
    for (int n = 0; n < N; ++n) {  // two-pass variance: no cancellation
      const float* xp = x + ((size_t)n * C + c) * HW;
      float pss = 0.f;
#pragma omp simd reduction(+ : pss)
      for (int i = 0; i < HW; ++i) {
        const float d = xp[i] - meanf;
        pss += d * d;
      }
      ss += pss;
    }
    const double var = ss / count;
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    save_mean[c] = static_cast<float>(mean);
    save_invstd[c] = invstd;
    const double unbiased = count > 1 ? ss / (count - 1) : var;
    running_mean[c] = (1.f - momentum) * running_mean[c] + momentum * static_cast<float>(mean);
    running_var[c] = (1.f - momentum) * running_var[c] + momentum * static_cast<float>(unbiased);
    const float a = gamma[c] * invstd, b = beta[c] - static_cast<float>(mean) * a;
    const float lo = relu ? 0.f : -std::numeric_limits<float>::infinity();
    for (int n = 0; n < N; ++n) {
      const float* xp = x + ((size_t)n * C + c) * HW;
      float* yp = y + ((size_t)n * C + c) * HW;
      const float* ap = add ? add + ((size_t)n * C + c) * HW : nullptr;
      if (ap) {
#pragma omp simd
        for (int i = 0; i < HW; ++i) yp[i] = std::max(xp[i] * a + b + ap[i], lo);
      } else {
#pragma omp simd
        for (int i = 0; i < HW; ++i) yp[i] = std::max(xp[i] * a + b, lo);
      }
    }
  }
}

void CpuBackend::batchnorm_forward_eval(const float* x, float* y, const float* gamma, const float* beta,
                                        const float* running_mean, const float* running_var, int N, int C, int HW,
                                        float eps) {
  PERCEPTRA_CPU_OP(kBatchNorm);
#pragma omp parallel for collapse(2) if ((size_t)N * C * HW > kParallelMin)
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      const float a = gamma[c] / std::sqrt(running_var[c] + eps);
      const float b = beta[c] - running_mean[c] * a;
      const float* xp = x + ((size_t)n * C + c) * HW;
      float* yp = y + ((size_t)n * C + c) * HW;
      for (int i = 0; i < HW; ++i) yp[i] = xp[i] * a + b;
    }
}

void CpuBackend::batchnorm_backward(const float* x, const float* dy, const float* gamma, const float* save_mean,
                                    const float* save_invstd, float* dx, float* dgamma, float* dbeta, int N, int C,
                                    int HW, int block, const float* relu_y, const float* beta) {
  PERCEPTRA_CPU_OP(kBatchNorm);
  if (block != 1) {
    check_block(block, C);
    return (block == 16 ? backward_blocked<16> : backward_blocked<8>)(x, dy, gamma, save_mean, save_invstd, dx, dgamma,
                                                                      dbeta, N, C, HW, relu_y, beta);
  }
  const double count = (double)N * HW;
#pragma omp parallel for
  for (int c = 0; c < C; ++c) {
    const float mean = save_mean[c], invstd = save_invstd[c];
    double sdy = 0, sdyx = 0;
    for (int n = 0; n < N; ++n) {  // per plane in float (vectorised), planes in double
      const float* xp = x + ((size_t)n * C + c) * HW;
      const float* dyp = dy + ((size_t)n * C + c) * HW;
      const float* mp = relu_y ? relu_y + ((size_t)n * C + c) * HW : nullptr;  // the fused ReLU's mask
      float pdy = 0.f, pdyx = 0.f;
#pragma omp simd reduction(+ : pdy, pdyx)
      for (int i = 0; i < HW; ++i) {
        const float d = mp && mp[i] <= 0.f ? 0.f : dyp[i];
        pdy += d;
        pdyx += d * (xp[i] - mean);
      }
      sdy += pdy;
      sdyx += (double)pdyx * invstd;
    }
    dbeta[c] = static_cast<float>(sdy);
    dgamma[c] = static_cast<float>(sdyx);
    // dx = gamma*invstd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat))
    const float k = gamma[c] * invstd;
    const float mdy = static_cast<float>(sdy / count), mdyx = static_cast<float>(sdyx / count);
    for (int n = 0; n < N; ++n) {
      const float* xp = x + ((size_t)n * C + c) * HW;
      const float* dyp = dy + ((size_t)n * C + c) * HW;
      float* dxp = dx + ((size_t)n * C + c) * HW;
      const float* mp = relu_y ? relu_y + ((size_t)n * C + c) * HW : nullptr;
#pragma omp simd
      for (int i = 0; i < HW; ++i) {
        const float d = mp && mp[i] <= 0.f ? 0.f : dyp[i];
        float xhat = (xp[i] - mean) * invstd;
        dxp[i] = k * (d - mdy - xhat * mdyx);
      }
    }
  }
}

}  // namespace perceptra
