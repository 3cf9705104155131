// Host runs of the CUDA kernels' per-element bodies (cuda_math.h) held
// against the CPU reference backend on small inputs. The loops below replay
// each kernel's indexing (grid-stride over the same index space, the same
// chunked im2col layout and gathers), so a wrong index or formula in a kernel
// body fails here without a GPU. What stays untested without a device:
// launch configuration, cuBLAS calls and block reductions (tests/gpu parity).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda/cuda_math.h"
#include "core/tensor/random.h"

using namespace perceptra;
namespace m = perceptra::cudamath;

namespace {
std::vector<float> randv(size_t n, uint64_t seed, float lo = -2.f, float hi = 2.f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(lo, hi);
  return v;
}
// Values on a coarse grid so max-pool windows have ties.
std::vector<float> grid_values(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(static_cast<int>(r.below(5))) - 2.f;
  return v;
}
void expect_ulps(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_FLOAT_EQ(got[i], want[i]) << "at " << i;
}
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << "at " << i;
}
CpuBackend& cpu() { return cpu_backend(); }
}  // namespace

TEST(CudaMath, HashMatchesTheEngineHash) {
  for (uint64_t seed : {0ull, 1ull, 42ull, 0xDEADBEEFCAFEull, ~0ull})
    for (uint64_t i = 0; i < 2000; i += 7) ASSERT_EQ(m::hash_u32(seed, i), hash_u32(seed, i));
}

TEST(CudaMath, DropoutMaskMatchesCpu) {
  const size_t n = 5000;
  auto x = randv(n, 1);
  for (float p : {0.f, 0.1f, 0.5f, 0.9f}) {
    std::vector<float> y(n), mask(n), my(n), mmask(n);
    cpu().dropout_forward(x.data(), y.data(), mask.data(), n, p, 1234);
    auto a = m::make_dropout_args(p, 1234);
    for (size_t i = 0; i < n; ++i) {
      mmask[i] = m::dropout_mask(a, i);
      my[i] = x[i] * mmask[i];
    }
    EXPECT_EQ(mmask, mask) << "p=" << p;
    EXPECT_EQ(my, y);
  }
}

TEST(CudaMath, ActivationsMatchCpu) {
  const size_t n = 4001;
  auto x = randv(n, 2, -6.f, 6.f), dy = randv(n, 3);
  x[0] = 0.f;
  for (Activation a : {Activation::ReLU, Activation::LeakyReLU, Activation::GELU, Activation::Sigmoid, Activation::Tanh,
                       Activation::ReLU6}) {
    std::vector<float> y(n), dx(n), my(n), mdx(n);
    cpu().activation_forward(a, 0.01f, x.data(), y.data(), n);
    cpu().activation_backward(a, 0.01f, x.data(), y.data(), dy.data(), dx.data(), n);
    for (size_t i = 0; i < n; ++i) {
      my[i] = m::activation_forward(a, 0.01f, x[i]);
      mdx[i] = m::activation_backward(a, 0.01f, x[i], y[i], dy[i]);
    }
    SCOPED_TRACE(static_cast<int>(a));
    expect_ulps(my, y);
    expect_ulps(mdx, dx);
  }
  // NaN and -0 through the selecting activations: kept on both, as PyTorch's
  // relu, leaky_relu and relu6 keep them (fmaxf would turn NaN into 0).
  for (Activation a : {Activation::ReLU, Activation::LeakyReLU, Activation::ReLU6})
    for (float v : {std::nanf(""), -0.f}) {
      float y = 1.f;
      cpu().activation_forward(a, 0.01f, &v, &y, 1);
      const float my = m::activation_forward(a, 0.01f, v);
      EXPECT_EQ(std::isnan(my), std::isnan(v)) << int(a) << " " << v;
      EXPECT_EQ(std::isnan(y), std::isnan(v)) << int(a) << " " << v;
      if (!std::isnan(v)) {
        EXPECT_TRUE(my == 0.f && std::signbit(my)) << int(a);
        EXPECT_TRUE(y == 0.f && std::signbit(y)) << int(a);
      }
      // The gradient at that x as PyTorch gives it: at NaN, ReLU's and ReLU6's
      // pass dy (threshold_backward and hardtanh_backward test x <= bound),
      // leaky ReLU's scales it; at -0 ReLU's and ReLU6's are 0.
      const float g = 3.f, want = a == Activation::LeakyReLU ? 0.01f * g : std::isnan(v) ? g : 0.f;
      float dx = -1.f;
      cpu().activation_backward(a, 0.01f, &v, &y, &g, &dx, 1);
      EXPECT_EQ(dx, want) << int(a) << " " << v;
      EXPECT_EQ(m::activation_backward(a, 0.01f, v, y, g), want) << int(a) << " " << v;
    }
}

TEST(CudaMath, SoftmaxAndCrossEntropyMatchCpu) {
  const int N = 7, C = 11;
  auto logits = randv(N * C, 4, -20.f, 20.f);
  std::vector<float> labels = {0, 3, 10, 5, 5, 1, 9};
  for (float smoothing : {0.f, 0.1f}) {
    std::vector<float> probs(N * C), loss(N), mprobs(N * C), mloss(N), d(N * C), md(N * C);
    cpu().softmax_xent_forward(logits.data(), labels.data(), probs.data(), loss.data(), N, C, smoothing);
    cpu().softmax_xent_backward(probs.data(), labels.data(), d.data(), N, C, smoothing, 1.f / N);
    for (int r = 0; r < N; ++r) mloss[r] = m::softmax_xent_row(&logits[r * C], labels[r], &mprobs[r * C], C, smoothing);
    for (size_t i = 0; i < d.size(); ++i)
      md[i] = m::softmax_xent_grad(probs[i], static_cast<int>(i % C), labels[i / C], C, smoothing, 1.f / N);
    expect_ulps(mprobs, probs);
    expect_ulps(mloss, loss);
    expect_ulps(md, d);
  }
  std::vector<float> y(N * C), my(N * C);
  cpu().softmax(logits.data(), y.data(), N, C);
  for (int r = 0; r < N; ++r) m::softmax_row(&logits[r * C], &my[r * C], C);
  expect_ulps(my, y);
}

TEST(CudaMath, BadLabelGivesNaNLoss) {
  std::vector<float> x = {1.f, 2.f, 3.f}, p(3);
  EXPECT_TRUE(std::isnan(m::softmax_xent_row(x.data(), 3.f, p.data(), 3, 0.f)));
  EXPECT_TRUE(std::isnan(m::softmax_xent_row(x.data(), -1.f, p.data(), 3, 0.f)));
  EXPECT_FALSE(std::isnan(m::softmax_xent_row(x.data(), 2.f, p.data(), 3, 0.f)));
}

TEST(CudaMath, WindowsCoveringMatchesTheDefinition) {
  for (int k = 1; k <= 4; ++k)
    for (int s = 1; s <= 3; ++s)
      for (int pad = 0; 2 * pad <= k; ++pad)
        for (int H = k; H <= 9; ++H) {
          const int P = (H + 2 * pad - k) / s + 1;
          for (int h = 0; h < H; ++h) {
            int lo, hi;
            m::windows_covering(h, pad, k, s, P, lo, hi);
            for (int p = 0; p < P; ++p) {
              bool covers = p * s - pad <= h && h < p * s - pad + k;
              ASSERT_EQ(covers, p >= lo && p <= hi) << k << " " << s << " " << pad << " " << H;
            }
          }
        }
}

struct PoolCase {
  int N, C, H, W, k, s, pad;
};
class CudaMathPool : public ::testing::TestWithParam<PoolCase> {};

TEST_P(CudaMathPool, MaxAndAvgMatchCpu) {
  auto c = GetParam();
  auto g = make_pool_geometry(c.N, c.C, c.H, c.W, c.k, c.k, c.s, c.s, c.pad, c.pad);
  const size_t in = (size_t)c.N * c.C * c.H * c.W, out = (size_t)c.N * c.C * g.P * g.Q;
  auto x = grid_values(in, 5), dy = randv(out, 6);
  std::vector<float> y(out), dx(in), my(out), mdx(in);
  // Max pooling (ties: the gradient goes to the first maximum).
  cpu().maxpool2d_forward(g, x.data(), y.data());
  cpu().maxpool2d_backward(g, x.data(), y.data(), dy.data(), dx.data());
  const size_t PQ = (size_t)g.P * g.Q, HW = (size_t)g.H * g.W;
  for (size_t i = 0; i < out; ++i)
    my[i] = m::maxpool_window(g, x.data() + i / PQ * HW, (int)(i % PQ) / g.Q, (int)(i % PQ) % g.Q);
  for (size_t i = 0; i < in; ++i) {
    size_t pl = i / HW;
    int hw = (int)(i % HW);
    mdx[i] =
        m::maxpool_backward_pixel(g, x.data() + pl * HW, y.data() + pl * PQ, dy.data() + pl * PQ, hw / g.W, hw % g.W);
  }
  {
    SCOPED_TRACE("max");
    expect_ulps(my, y);
    expect_ulps(mdx, dx);
  }
  // Average pooling (padded cells counted).
  cpu().avgpool2d_forward(g, x.data(), y.data());
  cpu().avgpool2d_backward(g, dy.data(), dx.data());
  for (size_t i = 0; i < out; ++i)
    my[i] = m::avgpool_window(g, x.data() + i / PQ * HW, (int)(i % PQ) / g.Q, (int)(i % PQ) % g.Q);
  for (size_t i = 0; i < in; ++i) {
    size_t pl = i / HW;
    int hw = (int)(i % HW);
    mdx[i] = m::avgpool_backward_pixel(g, dy.data() + pl * PQ, hw / g.W, hw % g.W);
  }
  expect_ulps(my, y);
  // Sums of dy/(k*k) over overlapping windows: same order as the CPU, but the
  // compilers may fuse the multiply-add differently (FMA), so rounding differs.
  expect_close(mdx, dx, 1e-6);
}

TEST_P(CudaMathPool, MaxWithArgmaxMatchesCpu) {
  // The training form: the kernels' per-output forward (max + window offset)
  // and per-pixel gathered backward, against the CPU's argmax path; exact,
  // since both pick the same element and sum in the same (p, q) order.
  auto c = GetParam();
  auto g = make_pool_geometry(c.N, c.C, c.H, c.W, c.k, c.k, c.s, c.s, c.pad, c.pad);
  const size_t in = (size_t)c.N * c.C * c.H * c.W, out = (size_t)c.N * c.C * g.P * g.Q;
  auto x = grid_values(in, 5), dy = randv(out, 7);
  x[in / 2] = NAN;
  std::vector<float> y(out), arg(maxpool_argmax_floats(g)), dx(in), my(out), marg(out), mdx(in);
  cpu().maxpool2d_forward_argmax(g, x.data(), y.data(), arg.data());
  cpu().maxpool2d_backward_argmax(g, arg.data(), dy.data(), dx.data());
  const size_t PQ = (size_t)g.P * g.Q, HW = (size_t)g.H * g.W;
  for (size_t i = 0; i < out; ++i) {
    int offset = -1;
    my[i] = m::maxpool_window_argmax(g, x.data() + i / PQ * HW, (int)(i % PQ) / g.Q, (int)(i % PQ) % g.Q, offset);
    marg[i] = static_cast<float>(offset);
  }
  for (size_t i = 0; i < in; ++i) {
    size_t pl = i / HW;
    int hw = (int)(i % HW);
    mdx[i] = m::maxpool_backward_argmax_pixel(g, marg.data() + pl * PQ, dy.data() + pl * PQ, hw / g.W, hw % g.W);
  }
  for (size_t i = 0; i < out; ++i) {
    ASSERT_EQ(marg[i], arg[i]) << i;
    if (std::isnan(y[i])) {
      ASSERT_TRUE(std::isnan(my[i])) << i;
    } else {
      ASSERT_EQ(my[i], y[i]) << i;
    }
  }
  for (size_t i = 0; i < in; ++i) ASSERT_EQ(mdx[i], dx[i]) << i;
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaMathPool,
                         ::testing::Values(PoolCase{2, 3, 8, 8, 2, 2, 0}, PoolCase{1, 2, 7, 9, 3, 2, 1},
                                           PoolCase{2, 1, 6, 6, 3, 1, 1}, PoolCase{1, 1, 5, 7, 2, 1, 0},
                                           PoolCase{2, 4, 9, 11, 2, 2, 0}));

TEST(CudaMath, MaxPoolPropagatesNaN) {
  auto g = make_pool_geometry(1, 1, 2, 2, 2, 2, 2, 2, 0, 0);
  std::vector<float> x = {1.f, NAN, 3.f, 2.f};
  EXPECT_TRUE(std::isnan(m::maxpool_window(g, x.data(), 0, 0)));
}

// ---- convolution: the GPU's chunked lowering replayed on the host ------------

struct ConvCase {
  int N, C, H, W, K, R, S, stride, pad, dil, groups, chunk;
};
class CudaMathConv : public ::testing::TestWithParam<ConvCase> {};

namespace {
// Row-major C[M,N] = op(A) op(B) in double (stands in for cuBLAS).
void naive_gemm(bool ta, bool tb, int M, int N, int K, const float* A, int lda, const float* B, int ldb, float beta,
                float* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int k = 0; k < K; ++k)
        s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = static_cast<float>(s + (beta == 0.f ? 0.0 : beta * C[i * ldc + j]));
    }
}
}  // namespace

TEST_P(CudaMathConv, ChunkedLoweringMatchesCpu) {
  auto c = GetParam();
  auto g =
      make_conv_geometry(c.N, c.C, c.H, c.W, c.K, c.R, c.S, c.stride, c.stride, c.pad, c.pad, c.dil, c.dil, c.groups);
  const int Cg = c.C / c.groups, Kg = c.K / c.groups, CRSg = Cg * c.R * c.S, PQ = g.P * g.Q;
  const int CRS = c.C * c.R * c.S;
  const size_t xin = (size_t)c.N * c.C * c.H * c.W, yout = (size_t)c.N * c.K * PQ;
  auto x = randv(xin, 7), w = randv((size_t)c.K * CRSg, 8), b = randv(c.K, 9), dy = randv(yout, 10);
  std::vector<float> y(yout), dx(xin), dw(w.size()), db(c.K);
  cpu().conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
  cpu().conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());

  std::vector<float> my(yout), mdx(xin), mdw(w.size());
  const int nb = c.chunk;
  std::vector<float> col((size_t)CRS * nb * PQ), t((size_t)c.K * nb * PQ);
  for (int n0 = 0; n0 < c.N; n0 += nb) {
    const int cnt = std::min(nb, c.N - n0), cols = cnt * PQ;
    const float* xc = x.data() + (size_t)n0 * c.C * c.H * c.W;
    // forward: im2col_k, per-group GEMM, unpack_k (+ bias)
    for (size_t i = 0; i < (size_t)CRS * cols; ++i)
      col[i] = m::im2col_value(g, xc, (int)(i / cols), (int)(i % cols / PQ), (int)(i % cols % PQ));
    for (int grp = 0; grp < c.groups; ++grp)
      naive_gemm(false, false, Kg, cols, CRSg, w.data() + (size_t)grp * Kg * CRSg, CRSg,
                 col.data() + (size_t)grp * CRSg * cols, cols, 0.f, t.data() + (size_t)grp * Kg * cols, cols);
    for (int n = 0; n < cnt; ++n)
      for (int k = 0; k < c.K; ++k)
        for (int pq = 0; pq < PQ; ++pq)
          my[((size_t)(n0 + n) * c.K + k) * PQ + pq] = t[(size_t)k * cols + n * PQ + pq] + b[k];
    // backward: pack_k, dW GEMM (accumulated over chunks), dcol GEMM, col2im_k
    for (int n = 0; n < cnt; ++n)
      for (int k = 0; k < c.K; ++k)
        for (int pq = 0; pq < PQ; ++pq) t[(size_t)k * cols + n * PQ + pq] = dy[((size_t)(n0 + n) * c.K + k) * PQ + pq];
    for (int grp = 0; grp < c.groups; ++grp)
      naive_gemm(false, true, Kg, CRSg, cols, t.data() + (size_t)grp * Kg * cols, cols,
                 col.data() + (size_t)grp * CRSg * cols, cols, n0 == 0 ? 0.f : 1.f,
                 mdw.data() + (size_t)grp * Kg * CRSg, CRSg);
    for (int grp = 0; grp < c.groups; ++grp)
      naive_gemm(true, false, CRSg, cols, Kg, w.data() + (size_t)grp * Kg * CRSg, CRSg,
                 t.data() + (size_t)grp * Kg * cols, cols, 0.f, col.data() + (size_t)grp * CRSg * cols, cols);
    float* dxc = mdx.data() + (size_t)n0 * c.C * c.H * c.W;
    const size_t in_total = (size_t)cnt * c.C * c.H * c.W;
    for (size_t i = 0; i < in_total; ++i) {
      int ww = (int)(i % c.W), h = (int)(i / c.W % c.H), ch = (int)(i / ((size_t)c.W * c.H) % c.C),
          n = (int)(i / ((size_t)c.W * c.H * c.C));
      dxc[i] = m::col2im_pixel(g, col.data(), cnt, n, ch, h, ww);
    }
  }
  expect_close(my, y, 1e-5);
  expect_close(mdx, dx, 1e-5);
  expect_close(mdw, dw, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaMathConv,
                         ::testing::Values(ConvCase{3, 2, 7, 6, 4, 3, 3, 1, 1, 1, 1, 2},
                                           ConvCase{2, 4, 9, 9, 6, 3, 3, 2, 1, 1, 2, 1},
                                           ConvCase{3, 3, 10, 8, 5, 3, 2, 1, 2, 2, 1, 3},
                                           ConvCase{4, 4, 5, 5, 4, 1, 1, 1, 0, 1, 4, 3},
                                           ConvCase{2, 1, 12, 12, 2, 5, 5, 3, 0, 1, 1, 2}));

// ---- batch normalisation: the per-channel kernels replayed on the host -------

TEST(CudaMath, BatchNormMatchesCpu) {
  const int N = 5, C = 3, HW = 7;
  const size_t n = (size_t)N * C * HW;
  auto x = randv(n, 11, 1.f, 4.f), dy = randv(n, 12), gamma = randv(C, 13), beta = randv(C, 14);
  std::vector<float> y(n), mean(C), invstd(C), rm(C, 0.1f), rv(C, 0.9f), dx(n), dg(C), dbt(C);
  cpu().batchnorm_forward_train(x.data(), y.data(), gamma.data(), beta.data(), mean.data(), invstd.data(), rm.data(),
                                rv.data(), N, C, HW, 0.1f, 1e-5f);
  cpu().batchnorm_backward(x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(), dx.data(), dg.data(),
                           dbt.data(), N, C, HW);
  const double count = (double)N * HW;
  std::vector<float> my(n), mdx(n);
  auto at = [&](size_t i, int c) { return ((size_t)(i / HW) * C + c) * HW + i % HW; };
  for (int c = 0; c < C; ++c) {
    double s = 0, ss = 0;
    for (size_t i = 0; i < (size_t)count; ++i) s += x[at(i, c)];
    const double mu = s / count;
    for (size_t i = 0; i < (size_t)count; ++i) ss += (x[at(i, c)] - mu) * (x[at(i, c)] - mu);
    m::BnChannel st = m::bn_channel_stats(mu, ss, count, 1e-5f, 0.1f, 0.1f, 0.9f);
    EXPECT_FLOAT_EQ(st.mean, mean[c]);
    EXPECT_FLOAT_EQ(st.invstd, invstd[c]);
    EXPECT_FLOAT_EQ(st.running_mean, rm[c]);
    EXPECT_FLOAT_EQ(st.running_var, rv[c]);
    const float a = gamma[c] * st.invstd, bb = beta[c] - st.mean * a;
    for (size_t i = 0; i < (size_t)count; ++i) my[at(i, c)] = x[at(i, c)] * a + bb;
    double sdy = 0, sdyx = 0;
    for (size_t i = 0; i < (size_t)count; ++i) {
      sdy += dy[at(i, c)];
      sdyx += (double)dy[at(i, c)] * (x[at(i, c)] - mean[c]) * invstd[c];
    }
    EXPECT_FLOAT_EQ(static_cast<float>(sdy), dbt[c]);
    EXPECT_FLOAT_EQ(static_cast<float>(sdyx), dg[c]);
    for (size_t i = 0; i < (size_t)count; ++i)
      mdx[at(i, c)] = m::bn_backward_elem(x[at(i, c)], dy[at(i, c)], gamma[c], mean[c], invstd[c], sdy, sdyx, count);
  }
  // The CPU backend vectorises the per-plane affine step (its rounding may
  // differ from the kernel's a*x+b by a few ulps), so outputs are held to a
  // relative 2e-6 rather than 4 ulps.
  expect_close(my, y, 2e-6);
  expect_close(mdx, dx, 1e-6);
}

// ---- optimizer updates ----------------------------------------------------------

TEST(CudaMath, SgdMatchesCpu) {
  const size_t n = 300;
  struct Case {
    float momentum, dampening, wd;
    bool nesterov, first;
  };
  for (Case c : {Case{0.f, 0.f, 0.f, false, true}, Case{0.9f, 0.f, 5e-4f, false, true},
                 Case{0.9f, 0.1f, 1e-2f, false, false}, Case{0.9f, 0.f, 0.f, true, false}}) {
    auto w = randv(n, 15), g = randv(n, 16), v = randv(n, 17);
    auto mw = w, mv = v;
    cpu().sgd_update(w.data(), g.data(), c.momentum ? v.data() : nullptr, n, 0.05f, c.momentum, c.dampening, c.wd,
                     c.nesterov, c.first);
    m::SgdArgs a{0.05f, c.momentum, c.dampening, c.wd, c.nesterov, c.first};
    for (size_t i = 0; i < n; ++i) m::sgd_step(mw.data(), g.data(), c.momentum ? mv.data() : nullptr, i, a);
    expect_ulps(mw, w);
    expect_ulps(mv, v);
  }
}

TEST(CudaMath, AdamAndAdamWMatchCpu) {
  const size_t n = 300;
  for (bool decoupled : {false, true})
    for (int64_t step : {1, 2, 50}) {
      auto w = randv(n, 18), g = randv(n, 19), mm = randv(n, 20), v = randv(n, 21, 0.f, 1.f);
      auto mw = w, mmm = mm, mv = v;
      cpu().adam_update(w.data(), g.data(), mm.data(), v.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, step);
      auto a = m::make_adam_args(1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, step);
      for (size_t i = 0; i < n; ++i) m::adam_step(mw.data(), g.data(), mmm.data(), mv.data(), i, a);
      expect_ulps(mw, w);
      expect_ulps(mmm, mm);
      expect_ulps(mv, v);
    }
}

TEST(CudaMath, FiniteChecks) {
  EXPECT_TRUE(m::is_finite(1.f));
  EXPECT_TRUE(m::is_finite(-3.4e38f));
  EXPECT_FALSE(m::is_finite(INFINITY));
  EXPECT_FALSE(m::is_finite(-INFINITY));
  EXPECT_FALSE(m::is_finite(NAN));
  EXPECT_TRUE(m::is_nan(NAN));
  EXPECT_FALSE(m::is_nan(0.f));
}
