// The CPU backend against naive double-precision references. (Layer-level
// gradient checks and PyTorch parity live in tests/nn.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_kernel.h"
#include "core/backend/cpu/cpu_profile.h"
#include "core/backend/cpu/cpu_winograd.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"
#include "tests/core/cpu_test_util.h"

using namespace perceptra;

namespace {

// Several tests here switch the convolution kernels (Auto, Im2col) and some
// leave them switched; every test of this binary starts from the process's
// default instead, so a test gives the same answer alone or after any other
// (CpuBf16.ChainsEqualTheirLinksOneByOne failed after the chain tests, which
// left Auto on: its link-by-link reference then ran im2col in float32).
class StartFromDefaultConvImpl : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { set_cpu_conv_impl(default_cpu_conv_impl()); }
};
const bool kListening = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new StartFromDefaultConvImpl);
  return true;
}();

}  // namespace

namespace {
using test::randv;
void expect_near(const std::vector<float>& a, const std::vector<double>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * (1 + std::abs(b[i]))) << i;
}
CpuBackend& B() { return cpu_backend(); }
}  // namespace

TEST(CpuBackend, GemmAllTransposes) {
  const int M = 37, N = 29, K = 41;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      auto A = randv(M * K, 1), Bm = randv(K * N, 2), C = randv(M * N, 3);
      std::vector<double> ref(M * N);
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
          double s = 0;
          for (int k = 0; k < K; ++k) {
            double a = ta ? A[k * M + i] : A[i * K + k];
            double b = tb ? Bm[j * K + k] : Bm[k * N + j];
            s += a * b;
          }
          ref[i * N + j] = 0.5 * s + 2.0 * C[i * N + j];
        }
      B().gemm(ta, tb, M, N, K, 0.5f, A.data(), ta ? M : K, Bm.data(), tb ? K : N, 2.f, C.data(), N);
      expect_near(C, ref, 1e-5);
    }
}

struct ConvCase {
  int N, C, H, W, K, R, S, stride, pad, dil, groups;
};

class CpuConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(CpuConv, ForwardAndBackwardMatchDirectLoops) {
  auto c = GetParam();
  auto g =
      make_conv_geometry(c.N, c.C, c.H, c.W, c.K, c.R, c.S, c.stride, c.stride, c.pad, c.pad, c.dil, c.dil, c.groups);
  const int Cg = c.C / c.groups, Kg = c.K / c.groups;
  auto x = randv((size_t)c.N * c.C * c.H * c.W, 4), w = randv((size_t)c.K * Cg * c.R * c.S, 5), b = randv(c.K, 6),
       dy = randv((size_t)c.N * c.K * g.P * g.Q, 7);
  auto xi = [&](int n, int ch, int h, int ww) { return x[((size_t)(n * c.C + ch) * c.H + h) * c.W + ww]; };
  auto wi = [&](int k, int ch, int r, int s) { return ((size_t)(k * Cg + ch) * c.R + r) * c.S + s; };
  std::vector<double> y_ref((size_t)c.N * c.K * g.P * g.Q), dx_ref(x.size(), 0), dw_ref(w.size(), 0), db_ref(c.K, 0);
  for (int n = 0; n < c.N; ++n)
    for (int k = 0; k < c.K; ++k)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q) {
          size_t yi = ((size_t)(n * c.K + k) * g.P + p) * g.Q + q;
          double s = b[k];
          int grp = k / Kg;
          for (int ch = 0; ch < Cg; ++ch)
            for (int r = 0; r < c.R; ++r)
              for (int t = 0; t < c.S; ++t) {
                int h = p * c.stride - c.pad + r * c.dil, ww = q * c.stride - c.pad + t * c.dil;
                if (h < 0 || h >= c.H || ww < 0 || ww >= c.W) continue;
                int cin = grp * Cg + ch;
                s += (double)xi(n, cin, h, ww) * w[wi(k, ch, r, t)];
                dx_ref[((size_t)(n * c.C + cin) * c.H + h) * c.W + ww] += (double)w[wi(k, ch, r, t)] * dy[yi];
                dw_ref[wi(k, ch, r, t)] += (double)xi(n, cin, h, ww) * dy[yi];
              }
          y_ref[yi] = s;
          db_ref[k] += dy[yi];
        }
  std::vector<float> y(y_ref.size()), dx(x.size()), dw(w.size()), db(c.K);
  B().conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
  expect_near(y, y_ref, 1e-4);
  B().conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  expect_near(dx, dx_ref, 1e-4);
  expect_near(dw, dw_ref, 1e-4);
  expect_near(db, db_ref, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Geometries, CpuConv,
                         ::testing::Values(ConvCase{2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1},
                                           ConvCase{3, 4, 9, 9, 6, 3, 3, 2, 1, 1, 2},
                                           ConvCase{2, 2, 8, 8, 3, 3, 3, 1, 2, 2, 1},
                                           ConvCase{4, 8, 5, 5, 8, 1, 1, 1, 0, 1, 1},
                                           ConvCase{2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 4}));

TEST(CpuBackend, MaxPoolRoutesGradientToFirstMaximum) {
  auto g = make_pool_geometry(1, 1, 4, 4, 2, 2, 2, 2, 0, 0);
  std::vector<float> x = {1, 5, 2, 2, 3, 0, 2, 2, -1, -2, 7, 1, -3, -4, 0, 7}, y(4), dx(16);
  B().maxpool2d_forward(g, x.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{5, 2, -1, 7}));
  std::vector<float> dy = {1, 2, 3, 4};
  B().maxpool2d_backward(g, x.data(), y.data(), dy.data(), dx.data());
  std::vector<float> expect(16, 0.f);
  expect[1] = 1;   // the 5
  expect[2] = 2;   // first of the tied 2s
  expect[8] = 3;   // -1
  expect[10] = 4;  // first 7
  EXPECT_EQ(dx, expect);
}

TEST(CpuBackend, AvgPoolCountsPadding) {
  auto g = make_pool_geometry(1, 1, 2, 2, 2, 2, 2, 2, 1, 1);  // PyTorch count_include_pad=True
  std::vector<float> x = {4, 8, 12, 16}, y(4);
  B().avgpool2d_forward(g, x.data(), y.data());
  EXPECT_EQ(y, (std::vector<float>{1, 2, 3, 4}));
}

TEST(CpuBackend, SoftmaxXentIsStableAndSmoothed) {
  std::vector<float> logits = {1000.f, 0.f, -1000.f, 1.f, 2.f, 3.f}, labels = {0, 2};
  std::vector<float> probs(6), loss(2), d(6);
  B().softmax_xent_forward(logits.data(), labels.data(), probs.data(), loss.data(), 2, 3, 0.f);
  EXPECT_NEAR(loss[0], 0.f, 1e-6);
  double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(loss[1], lse - 3.0, 1e-5);
  B().softmax_xent_forward(logits.data(), labels.data(), probs.data(), loss.data(), 2, 3, 0.3f);
  double logp[3] = {1 - lse, 2 - lse, 3 - lse};
  EXPECT_NEAR(loss[1], -(0.1 * logp[0] + 0.1 * logp[1] + 0.8 * logp[2]), 1e-5);
  B().softmax_xent_backward(probs.data(), labels.data(), d.data(), 2, 3, 0.3f, 0.5f);
  EXPECT_NEAR(d[5], 0.5 * (std::exp(logp[2]) - 0.8), 1e-6);
}

TEST(CpuBackend, BatchNormTrainNormalisesAndUpdatesRunningStats) {
  const int N = 4, C = 2, HW = 3;
  auto x = randv(N * C * HW, 9);
  std::vector<float> y(x.size()), gamma = {2, 1}, beta = {0.5f, 0}, mean(2), invstd(2), rm = {0, 0}, rv = {1, 1};
  B().batchnorm_forward_train(x.data(), y.data(), gamma.data(), beta.data(), mean.data(), invstd.data(), rm.data(),
                              rv.data(), N, C, HW, 0.1f, 1e-5f);
  for (int c = 0; c < C; ++c) {
    double s = 0, ss = 0, xs = 0, xss = 0;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) {
        double v = y[(n * C + c) * HW + i], xv = x[(n * C + c) * HW + i];
        s += v, ss += v * v, xs += xv, xss += xv * xv;
      }
    const double m = N * HW;
    EXPECT_NEAR(s / m, beta[c], 1e-5);
    EXPECT_NEAR(std::sqrt(ss / m - (s / m) * (s / m)), gamma[c], 1e-3);
    double xmean = xs / m, xvar_unbiased = (xss - m * xmean * xmean) / (m - 1);
    EXPECT_NEAR(rm[c], 0.1 * xmean, 1e-6);
    EXPECT_NEAR(rv[c], 0.9 + 0.1 * xvar_unbiased, 1e-5);
  }
}

TEST(CpuBackend, DropoutMaskMatchesHashAndScales) {
  std::vector<float> x(10000, 1.f), y(10000), mask(10000);
  B().dropout_forward(x.data(), y.data(), mask.data(), x.size(), 0.25f, 123);
  int kept = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    bool keep = hash_u32(123, i) >= 0.25 * 4294967296.0;
    ASSERT_EQ(mask[i], keep ? 1.f / 0.75f : 0.f);
    kept += keep;
  }
  EXPECT_NEAR(kept / 10000.0, 0.75, 0.02);
}

TEST(CpuBackend, SgdNesterovAndAdamFollowPyTorchFormulas) {
  std::vector<float> w = {1.f, -2.f}, g = {0.5f, 0.25f}, v(2, 0.f);
  B().sgd_update(w.data(), g.data(), v.data(), 2, 0.1f, 0.9f, 0.f, 0.01f, true, true);
  // d = g + wd*w; buf = d; step = d + 0.9*buf
  float d0 = 0.5f + 0.01f * 1.f;
  EXPECT_FLOAT_EQ(v[0], d0);
  EXPECT_FLOAT_EQ(w[0], 1.f - 0.1f * (d0 + 0.9f * d0));

  std::vector<float> aw = {1.f}, ag = {0.5f}, m = {0.f}, vv = {0.f};
  B().adam_update(aw.data(), ag.data(), m.data(), vv.data(), 1, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, true, 1);
  // AdamW step 1: w *= 1 - lr*wd; m_hat = g, v_hat = g^2 -> update lr * g/|g|
  EXPECT_NEAR(aw[0], 1.f * (1 - 0.001f) - 0.01f, 1e-6);
}

TEST(CpuBackend, ReductionsAndNonFinite) {
  std::vector<float> x(100000, 0.5f);
  EXPECT_DOUBLE_EQ(B().sum(x.data(), x.size()), 50000.0);
  EXPECT_DOUBLE_EQ(B().sum_squares(x.data(), x.size()), 25000.0);
  EXPECT_FALSE(B().has_non_finite(x.data(), x.size()));
  x[77777] = NAN;
  EXPECT_TRUE(B().has_non_finite(x.data(), x.size()));
}

TEST(CpuBackend, ActivationsAndDerivatives) {
  // 7.5 lies beyond ReLU6's upper bound (flat there).
  std::vector<float> x = {-2.f, -0.5f, 0.3f, 1.7f, 7.5f}, y(5), dy(5, 1.f), dx(5);
  B().activation_forward(Activation::GELU, 0, x.data(), y.data(), 5);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(y[i], 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0))), 1e-6);
  for (auto a : {Activation::ReLU, Activation::LeakyReLU, Activation::GELU, Activation::Sigmoid, Activation::Tanh,
                 Activation::ReLU6}) {
    B().activation_forward(a, 0.1f, x.data(), y.data(), 5);
    B().activation_backward(a, 0.1f, x.data(), y.data(), dy.data(), dx.data(), 5);
    for (int i = 0; i < 5; ++i) {  // central difference in float, loose tolerance
      float h = 1e-3f, yp, ym, xp = x[i] + h, xm = x[i] - h;
      B().activation_forward(a, 0.1f, &xp, &yp, 1);
      B().activation_forward(a, 0.1f, &xm, &ym, 1);
      EXPECT_NEAR(dx[i], (yp - ym) / (2 * h), 2e-3) << "activation " << int(a) << " at " << x[i];
    }
  }
}

// The selecting activations run on whole vectors per thread plus a scalar
// tail (cpu_activation.cpp): every length, the threaded one included, must
// give each element's rule exactly, NaN, +-0 and ReLU6's bounds included.
TEST(CpuBackend, SelectingActivationsOnEveryLengthAndSpecialValue) {
  const float nan = std::nanf("");
  const std::vector<float> special = {nan, 0.f, -0.f, 6.f, 5.999f, 6.001f, -1e-30f, 1e-30f, 1e30f, -1e30f};
  for (size_t n : {size_t(1), size_t(15), size_t(16), size_t(17), size_t(100003)}) {
    std::vector<float> x = randv(n, 5 + n), dy = randv(n, 6 + n);
    for (float& v : x) v *= 8.f;  // past ReLU6's 6 too
    for (size_t i = 0; i < n; ++i)
      if (i % 7 == 3) x[i] = special[(i / 7) % special.size()];
    if (n > 2) dy[1] = nan;  // masked where x <= 0, kept elsewhere
    const float a = 0.1f;
    for (auto act : {Activation::ReLU, Activation::LeakyReLU, Activation::ReLU6}) {
      std::vector<float> y(n, -7.f), dx(n, -7.f);
      B().activation_forward(act, a, x.data(), y.data(), n);
      B().activation_backward(act, a, x.data(), y.data(), dy.data(), dx.data(), n);
      for (size_t i = 0; i < n; ++i) {
        const float v = x[i], g = dy[i];
        float fy, fdx;
        if (act == Activation::ReLU) {
          fy = v < 0.f ? 0.f : v;    // NaN and -0 kept (PyTorch's relu)
          fdx = v <= 0.f ? 0.f : g;  // threshold_backward: dy passes at a NaN x
        } else if (act == Activation::LeakyReLU) {
          fy = v > 0.f ? v : a * v;
          fdx = v > 0.f ? g : a * g;
        } else {
          const float t = v < 0.f ? 0.f : v;
          fy = t > 6.f ? 6.f : t;
          fdx = v <= 0.f || v >= 6.f ? 0.f : g;  // hardtanh_backward
        }
        // Equal bits up to NaN payloads: -0 must stay -0 (PyTorch's relu(-0.) is -0.).
        const auto same = [](float p, float q) {
          return (std::isnan(p) && std::isnan(q)) || (p == q && std::signbit(p) == std::signbit(q));
        };
        ASSERT_TRUE(same(y[i], fy)) << "activation " << int(act) << " n " << n << " x[" << i << "] = " << v;
        ASSERT_TRUE(same(dx[i], fdx)) << "gradient of activation " << int(act) << " n " << n << " x[" << i
                                      << "] = " << v;
      }
    }
  }
}

// A Linear layer's op, y = post(x W^T + b), against sums in double: with
// and without bias, each post-op, batches that are and are not the MLP's.
TEST(CpuBackend, LinearForwardIsGemmBiasAndActivation) {
  struct Case {
    int N, in, out;
  };
  for (Case c : {Case{1, 5, 3}, Case{37, 41, 29}, Case{128, 300, 70}, Case{3, 0, 4}}) {
    const auto x = randv(size_t(c.N) * c.in, 7), w = randv(size_t(c.out) * c.in, 8), b = randv(size_t(c.out), 9);
    for (bool bias : {false, true})
      for (ConvPost post : {ConvPost::None, ConvPost::ReLU, ConvPost::ReLU6}) {
        std::vector<double> ref(size_t(c.N) * c.out), mag(ref.size());  // mag: sum of |terms|, float's error scale
        for (int i = 0; i < c.N; ++i)
          for (int j = 0; j < c.out; ++j) {
            double s = bias ? b[size_t(j)] : 0.0, m = std::abs(s);
            for (int k = 0; k < c.in; ++k) {
              const double t = double(x[size_t(i) * c.in + k]) * 4.0 * w[size_t(j) * c.in + k];
              s += t;
              m += std::abs(t);
            }
            mag[size_t(i) * c.out + j] = m;
            if (post != ConvPost::None) s = std::max(s, 0.0);
            if (post == ConvPost::ReLU6) s = std::min(s, 6.0);
            ref[size_t(i) * c.out + j] = s;
          }
        std::vector<float> w4 = w;
        for (float& v : w4) v *= 4.f;      // products past ReLU6's bound
        for (bool held : {false, true}) {  // weights read through strides, or packed for the pass
          std::optional<WeightsHeld> hold;
          if (held) hold.emplace();
          std::vector<float> y(ref.size(), 99.f);
          B().linear_forward(c.N, c.in, c.out, x.data(), w4.data(), bias ? b.data() : nullptr, post, y.data());
          SCOPED_TRACE("N " + std::to_string(c.N) + " in " + std::to_string(c.in) + " out " + std::to_string(c.out) +
                       " bias " + std::to_string(bias) + " post " + std::to_string(int(post)) + " held " +
                       std::to_string(held));
          for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-6 * (1 + mag[i])) << i;
        }
      }
  }
}

TEST(CpuBackend, HeldLinearWeightsArePackedOncePerPassAndDroppedAfter) {
  const int N = 64, in = 300, out = 200;
  const auto x = randv(size_t(N) * in, 17), b = randv(size_t(out), 18);
  std::vector<float> w = randv(size_t(out) * in, 19);
  auto run = [&] {
    std::vector<float> y(size_t(N) * out);
    B().linear_forward(N, in, out, x.data(), w.data(), b.data(), ConvPost::None, y.data());
    return y;
  };
  const std::vector<float> plain = run();
  EXPECT_FALSE(weights_held());
  {
    const WeightsHeld pass;
    EXPECT_TRUE(weights_held());
    const std::vector<float> first = run();
    EXPECT_EQ(cpu_held_weight_copies(), 1u) << "packed on first use";
    EXPECT_EQ(run(), first) << "the packed copy serves every batch";
    EXPECT_EQ(cpu_held_weight_copies(), 1u);
    {
      const WeightsHeld nested;  // an inner hold ends without dropping the outer's copies
    }
    EXPECT_TRUE(weights_held());
    EXPECT_EQ(cpu_held_weight_copies(), 1u);
    std::thread other([&] { EXPECT_FALSE(weights_held()) << "a hold is per thread"; });
    other.join();
    for (size_t i = 0; i < plain.size(); ++i) ASSERT_NEAR(first[i], plain[i], 1e-4 * (1 + std::abs(plain[i]))) << i;
  }
  EXPECT_FALSE(weights_held());
  EXPECT_EQ(cpu_held_weight_copies(), 0u) << "dropped when the pass ends";
  // Weights written between passes (an optimizer step) are what the next pass reads.
  for (float& v : w) v = -v;
  const std::vector<float> expect = run();  // not held: reads w itself
  const WeightsHeld next;
  const std::vector<float> after = run();
  for (size_t i = 0; i < after.size(); ++i) ASSERT_NEAR(after[i], expect[i], 1e-4 * (1 + std::abs(expect[i]))) << i;
}

// A chain link on oneDNN (stride 2: no Winograd) whose kernel wants the
// weights in another layout reorders them once per held pass, not per call.
TEST(CpuBackend, HeldChainWeightsAreReorderedOncePerPass) {
  const test::WinogradRestore restore_winograd;
  set_cpu_winograd(WinogradUse::Off);
  ConvLink l;
  l.g = make_conv_geometry(4, 16, 12, 12, 32, 3, 3, 2, 2, 1, 1);
  std::vector<float> w = randv(size_t(32) * 16 * 9, 23);
  const auto x = randv(size_t(4) * 16 * 144, 24);
  l.w = w.data();
  auto chain = [&] {
    std::vector<float> y(size_t(4) * 32 * 36);
    EXPECT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), y.data()));
    return y;
  };
  const std::vector<float> plain = chain();
  EXPECT_EQ(cpu_held_weight_copies(), 0u) << "no hold, nothing kept";
  {
    const WeightsHeld pass;
    EXPECT_EQ(chain(), plain);
    ASSERT_EQ(cpu_held_weight_copies(), 1u) << "oneDNN's layout differs from OIHW: one copy";
    EXPECT_EQ(chain(), plain);
    EXPECT_EQ(cpu_held_weight_copies(), 1u) << "reordered once per pass";
    // Held weights must not change during a pass; if they do, the chain
    // still reads the copy made before: proof it uses the held copy.
    for (float& v : w) v = -v;
    EXPECT_EQ(chain(), plain);
  }
  EXPECT_EQ(cpu_held_weight_copies(), 0u);
  {
    const WeightsHeld next;  // the new pass reads the weights as they are now
    EXPECT_NE(chain(), plain);
  }
}

// When a held pass ends its copies are dropped and then the blocks it freed
// are given back to the system, not cached beside what training allocates
// next (they raised ResNet-18's training peak RSS by 53 MB).
TEST(CpuBackend, AHeldPassGivesItsFreedBlocksBackWhenItEnds) {
  const test::WinogradRestore restore_winograd;
  set_cpu_winograd(WinogradUse::On);
  ConvLink l;
  l.g = make_conv_geometry(2, 64, 12, 12, 64, 3, 3, 1, 1, 1, 1);
  const auto w = randv(size_t(64) * 64 * 9, 25), x = randv(size_t(2) * 64 * 144, 26);
  l.w = w.data();
  std::vector<float> y(x.size());
  {
    const WeightsHeld pass;
    ASSERT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), y.data()));
    ASSERT_NE(winograd_held_filters(l.g, l.w), nullptr);
    { CpuScratch t(size_t(1) << 20); }  // a pass temporary, freed into the cache
    EXPECT_GT(cpu_cached_bytes(), 0u);
  }
  EXPECT_EQ(cpu_cached_bytes(), 0u) << "the held filters and temporaries went back to the system";
  ASSERT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), y.data()));
  EXPECT_GT(cpu_cached_bytes(), 0u) << "outside a pass, freed blocks are cached as before";
}

TEST(CpuBackend, HeldWinogradFiltersAreTransformedOncePerPass) {
  const test::WinogradRestore restore_winograd;
  set_cpu_winograd(WinogradUse::On);
  ConvLink l;
  l.g = make_conv_geometry(4, 16, 12, 12, 16, 3, 3, 1, 1, 1, 1);
  std::vector<float> w = randv(size_t(16) * 16 * 9, 21);
  const auto x = randv(size_t(4) * 16 * 144, 22);
  l.w = w.data();
  auto chain = [&] {
    std::vector<float> y(x.size());
    EXPECT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), y.data()));
    return y;
  };
  auto same_filters = [&](const WinogradFilters& f) {
    WinogradFilters fresh;
    winograd_prepare_filters(l.g, w.data(), fresh);
    const size_t n = size_t(fresh.tile + 2) * (fresh.tile + 2) * 16 * 16;
    return f.tile == fresh.tile && std::equal(f.U.data(), f.U.data() + n, fresh.U.data());
  };
  EXPECT_EQ(winograd_held_filters(l.g, w.data()), nullptr) << "no hold, nothing kept";
  const std::vector<float> plain = chain();
  {
    const WeightsHeld pass;
    const WinogradFilters* f = winograd_held_filters(l.g, w.data());
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(same_filters(*f));
    EXPECT_EQ(winograd_held_filters(l.g, w.data()), f) << "prepared once per pass";
    EXPECT_EQ(chain(), plain) << "the held filters are the ones a chain prepares";
    // Held weights must not change during a pass; if they do, the chain
    // still reads the filters prepared before: proof it uses the held copy.
    for (float& v : w) v = -v;
    EXPECT_EQ(chain(), plain);
  }
  EXPECT_EQ(winograd_held_filters(l.g, w.data()), nullptr);
  {
    const WeightsHeld next;  // the new pass reads the weights as they are now
    EXPECT_TRUE(same_filters(*winograd_held_filters(l.g, w.data())));
    EXPECT_NE(chain(), plain);
  }
}

namespace {
// Naive max pooling: first maximum in row-major window order, NaN wins.
void maxpool_reference(const PoolGeometry& g, const std::vector<float>& x, const std::vector<float>& dy,
                       std::vector<float>& y, std::vector<float>& dx) {
  y.assign((size_t)g.N * g.C * g.P * g.Q, 0.f);
  dx.assign(x.size(), 0.f);
  for (int pl = 0; pl < g.N * g.C; ++pl)
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        float best = -INFINITY;
        int arg = -1;
        for (int i = 0; i < g.kh; ++i)
          for (int j = 0; j < g.kw; ++j) {
            int h = p * g.sh - g.ph + i, w = q * g.sw - g.pw + j;
            if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
            float v = x[((size_t)pl * g.H + h) * g.W + w];
            if (arg < 0 || (!std::isnan(best) && (v > best || std::isnan(v)))) {
              best = v;
              arg = h * g.W + w;
            }
          }
        size_t yi = ((size_t)pl * g.P + p) * g.Q + q;
        y[yi] = best;
        if (arg >= 0) dx[(size_t)pl * g.H * g.W + arg] += dy[yi];
      }
}
}  // namespace

TEST(CpuBackend, MaxPoolFastAndGenericPathsMatchNaiveLoops) {
  struct Case {
    int N, C, H, W, k, s, pad;
  };
  // 2x2/2 (fast path, even and odd sizes, big enough to go parallel),
  // overlapping 3x3/2 with padding, 3x3/1 (generic path).
  for (Case c : {Case{2, 3, 8, 8, 2, 2, 0}, Case{3, 2, 7, 9, 2, 2, 0}, Case{8, 32, 28, 28, 2, 2, 0},
                 Case{2, 2, 9, 7, 3, 2, 1}, Case{1, 3, 6, 5, 3, 1, 0}}) {
    auto g = make_pool_geometry(c.N, c.C, c.H, c.W, c.k, c.k, c.s, c.s, c.pad, c.pad);
    auto x = randv((size_t)c.N * c.C * c.H * c.W, 21);
    for (size_t i = 0; i < x.size(); i += 5) x[i] = x[i + 1];  // ties: first one wins
    x[3] = NAN;                                                // propagates
    auto dy = randv((size_t)c.N * c.C * g.P * g.Q, 22);
    std::vector<float> y_ref, dx_ref, y(dy.size()), dx(x.size(), 123.f);
    maxpool_reference(g, x, dy, y_ref, dx_ref);
    B().maxpool2d_forward(g, x.data(), y.data());
    B().maxpool2d_backward(g, x.data(), y.data(), dy.data(), dx.data());
    for (size_t i = 0; i < y.size(); ++i) {
      if (std::isnan(y_ref[i])) {
        ASSERT_TRUE(std::isnan(y[i])) << i;
      } else {
        ASSERT_EQ(y[i], y_ref[i]) << "k" << c.k << " H" << c.H << " i" << i;
      }
    }
    for (size_t i = 0; i < dx.size(); ++i) ASSERT_EQ(dx[i], dx_ref[i]) << "k" << c.k << " i" << i;
  }
}

TEST(CpuBackend, MaxPoolArgmaxPathMatchesNaiveLoops) {
  // The training path (argmax recorded in forward, backward from it alone)
  // gives the same y and dx as the reference, ties and NaN included, for the
  // 2x2/2 fast path and for any other window (overlapping, padded).
  struct Case {
    int N, C, H, W, k = 2, s = 2, pad = 0;
  };
  for (Case c : {Case{2, 3, 8, 8}, Case{3, 2, 7, 9}, Case{8, 32, 28, 28}, Case{1, 1, 2, 3}, Case{2, 2, 9, 7, 3, 2, 1},
                 Case{1, 3, 6, 5, 3, 1, 0}, Case{4, 16, 16, 16, 3, 2, 1}}) {
    auto g = make_pool_geometry(c.N, c.C, c.H, c.W, c.k, c.k, c.s, c.s, c.pad, c.pad);
    auto x = randv((size_t)c.N * c.C * c.H * c.W, 23);
    for (size_t i = 0; i + 1 < x.size(); i += 5) x[i] = x[i + 1];
    for (size_t i = 2; i + c.W + 1 < x.size(); i += 11) x[i + c.W] = x[i + c.W + 1] = x[i] = x[i + 1];
    x[1] = NAN;
    auto dy = randv((size_t)c.N * c.C * g.P * g.Q, 24);
    std::vector<float> y_ref, dx_ref, y(dy.size()), dx(x.size(), 123.f);
    std::vector<float> arg(maxpool_argmax_floats(g));
    maxpool_reference(g, x, dy, y_ref, dx_ref);
    ASSERT_TRUE(B().supports(Op::maxpool2d_forward_argmax));
    B().maxpool2d_forward_argmax(g, x.data(), y.data(), arg.data());
    B().maxpool2d_backward_argmax(g, arg.data(), dy.data(), dx.data());
    for (size_t i = 0; i < y.size(); ++i) {
      if (std::isnan(y_ref[i])) {
        ASSERT_TRUE(std::isnan(y[i])) << i;
      } else {
        ASSERT_EQ(y[i], y_ref[i]) << "H" << c.H << " i" << i;
      }
    }
    for (size_t i = 0; i < dx.size(); ++i) ASSERT_EQ(dx[i], dx_ref[i]) << "H" << c.H << " i" << i;
  }
}

TEST(CpuBackend, EveryOpIsSupportedAndNamed) {
  // One place answers what a backend runs; the CPU reference runs the whole list.
  std::set<std::string> names;
  for (int i = 0; i < kOpCount; ++i) {
    EXPECT_TRUE(B().supports(Op(i))) << op_name(Op(i));
    names.insert(op_name(Op(i)));
  }
  EXPECT_EQ(names.size(), size_t(kOpCount));  // distinct names, none "unknown op"
  EXPECT_EQ(std::string(op_name(Op::maxpool2d_forward_argmax)), "maxpool2d_forward_argmax");
  try {
    B().unsupported(Op::gemm);
    FAIL() << "unsupported() returned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gemm: not supported by cpu"), std::string::npos) << e.what();
  }
}

TEST(CpuBackend, OpProfilerCountsCallsOnlyWhileEnabled) {
  std::vector<float> a(64, 1.f), b(64, 2.f), c(64);
  cpu_profile_take();
  B().add(a.data(), b.data(), c.data(), c.size());  // not counted
  cpu_profile_enable(true);
  B().add(a.data(), b.data(), c.data(), c.size());
  B().gemm(false, false, 8, 8, 8, 1.f, a.data(), 8, b.data(), 8, 0.f, c.data(), 8);
  cpu_profile_enable(false);
  auto stats = cpu_profile_take();
  int64_t elementwise = 0, gemm = 0;
  for (const auto& s : stats) {
    if (s.name == "elementwise") elementwise = s.calls;
    if (s.name == "gemm") {
      gemm = s.calls;
      EXPECT_TRUE(s.heavy);
    }
  }
  EXPECT_EQ(elementwise, 1);
  EXPECT_EQ(gemm, 1);
  EXPECT_TRUE(cpu_profile_take().empty());
}

TEST(CpuBackend, OpenMpWaitPolicyIsSetBeforeLibgompLoads) {
  // ctest runs every test with OMP_WAIT_POLICY=passive (tests/CMakeLists.txt);
  // programs get it from apply_omp_wait_policy() in their main().
  const char* opt = std::getenv("PERCEPTRA_OMP_REEXEC");
  if (opt && std::string(opt) == "0") GTEST_SKIP() << "PERCEPTRA_OMP_REEXEC=0";
  EXPECT_TRUE(std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT"));
}

// ---- apply_omp_wait_policy, run in child processes of this test binary ------

namespace {
// The child side: what the environment says, whether this is the image
// apply_omp_wait_policy re-executed (PERCEPTRA_OMP_TEST_GEN set before the
// call), written to PERCEPTRA_OMP_TEST_OUT.
void omp_child_report(const char* out, const std::string& what) {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  std::ofstream(out) << what << " OMP_WAIT_POLICY=" << (policy ? policy : "unset");
  if (const char* spin = std::getenv("GOMP_SPINCOUNT")) std::ofstream(out, std::ios::app) << " GOMP_SPINCOUNT=" << spin;
  if (const char* blas = std::getenv("OPENBLAS_NUM_THREADS"); blas && std::string(blas) != "4")
    std::ofstream(out, std::ios::app) << " OPENBLAS_NUM_THREADS=" << blas;
}

// Runs this binary with only `filter`, OMP_WAIT_POLICY, GOMP_SPINCOUNT and
// PERCEPTRA_OMP_* removed from the environment plus `extra`; returns the
// child's report. OPENBLAS_NUM_THREADS is 4 (a user's choice, not reported)
// unless `extra` sets it or `blas_unset`.
std::string run_omp_child(const std::string& filter, std::vector<std::string> extra, bool blas_unset = false) {
  const std::string out = testing::TempDir() + "omp_child_" + std::to_string(getpid()) + ".txt";
  std::remove(out.c_str());
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("OMP_WAIT_POLICY=", 0) == 0 || kv.rfind("GOMP_SPINCOUNT=", 0) == 0 ||
        kv.rfind("PERCEPTRA_OMP_", 0) == 0 || kv.rfind("OPENBLAS_NUM_THREADS=", 0) == 0)
      continue;
    env.push_back(kv);
  }
  bool blas_in_extra = false;
  for (auto& kv : extra) blas_in_extra |= kv.rfind("OPENBLAS_NUM_THREADS=", 0) == 0;
  if (!blas_unset && !blas_in_extra) env.push_back("OPENBLAS_NUM_THREADS=4");
  env.push_back("PERCEPTRA_OMP_TEST_OUT=" + out);
  for (auto& kv : extra) env.push_back(kv);
  std::vector<char*> envp, argv;
  for (auto& kv : env) envp.push_back(kv.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe", flag = "--gtest_filter=" + filter;
  argv = {exe.data(), flag.data(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return "spawn failed";
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream in(out);
  std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(out.c_str());
  return report;
}
}  // namespace

TEST(OmpPolicyChild, Observe) {
  const char* out = std::getenv("PERCEPTRA_OMP_TEST_OUT");
  if (!out) GTEST_SKIP() << "runs only as a child of OmpWaitPolicy tests";
  B().fill(std::vector<float>(1).data(), 1, 0.f);  // the engine is loaded and used
  omp_child_report(out, "observed");
}

TEST(OmpPolicyChild, Apply) {
  const char* out = std::getenv("PERCEPTRA_OMP_TEST_OUT");
  if (!out) GTEST_SKIP() << "runs only as a child of OmpWaitPolicy tests";
  if (std::getenv("PERCEPTRA_OMP_TEST_GEN")) {
    omp_child_report(out, "re-executed");
    return;
  }
  setenv("PERCEPTRA_OMP_TEST_GEN", "1", 1);
  std::string exe = "/proc/self/exe", flag = "--gtest_filter=OmpPolicyChild.Apply";
  char* argv[] = {exe.data(), flag.data(), nullptr};
  apply_omp_wait_policy(argv);
  omp_child_report(out, "not re-executed");
}

TEST(OmpWaitPolicy, OnlyMainReExecutesAndOnlyWithoutAUserChoice) {
  // Linking and using the engine re-executes nobody (no library constructor).
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Observe", {}), "observed OMP_WAIT_POLICY=unset");
  // main() calling apply_omp_wait_policy: a short spin, once.
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Apply", {}), "re-executed OMP_WAIT_POLICY=unset GOMP_SPINCOUNT=10000");
  // The user's choice wins; so does the opt-out.
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Apply", {"OMP_WAIT_POLICY=active"}),
            "not re-executed OMP_WAIT_POLICY=active");
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Apply", {"GOMP_SPINCOUNT=1000"}),
            "not re-executed OMP_WAIT_POLICY=unset GOMP_SPINCOUNT=1000");
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Apply", {"PERCEPTRA_OMP_REEXEC=0"}), "not re-executed OMP_WAIT_POLICY=unset");
}

// OpenBLAS (loaded by OpenCV, never called) gets one thread unless the user
// chose a count: its workers hang exit() under an address-space limit.
TEST(OmpWaitPolicy, OpenBlasGetsOneThreadUnlessTheUserChose) {
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Apply", {}, /*blas_unset=*/true),
            "re-executed OMP_WAIT_POLICY=unset GOMP_SPINCOUNT=10000 OPENBLAS_NUM_THREADS=1");
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Apply", {"OMP_WAIT_POLICY=active"}, true),
            "re-executed OMP_WAIT_POLICY=active OPENBLAS_NUM_THREADS=1");
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Apply", {"OMP_WAIT_POLICY=active", "OPENBLAS_NUM_THREADS=2"}),
            "not re-executed OMP_WAIT_POLICY=active OPENBLAS_NUM_THREADS=2");
  EXPECT_EQ(run_omp_child("OmpPolicyChild.Apply", {"PERCEPTRA_OMP_REEXEC=0"}, true),
            "not re-executed OMP_WAIT_POLICY=unset");
}

TEST(CpuBackend, LargeBlocksAreReusedAndTheCacheIsBounded) {
  cpu_release_cached_memory();
  const size_t n = 1 << 16;  // 256 KiB: cached
  float* a = B().allocate(n);
  a[0] = 1.f;
  a[n - 1] = 2.f;
  B().deallocate(a, n);
  EXPECT_EQ(cpu_cached_bytes(), n * sizeof(float));
  float* b = B().allocate(n);  // same size: the cached block comes back
  EXPECT_EQ(a, b);
  EXPECT_EQ(cpu_cached_bytes(), 0u);
  float* small = B().allocate(16);  // small blocks go straight back to malloc
  B().deallocate(small, 16);
  EXPECT_EQ(cpu_cached_bytes(), 0u);
  // A step's worth of big blocks freed at once is kept (the next step takes
  // the same sizes: no page faults), up to the peak that was live.
  std::vector<float*> blocks;
  const size_t big = size_t(32) << 20;  // 128 MiB each
  for (int i = 0; i < 3; ++i) blocks.push_back(B().allocate(big));
  for (float* p : blocks) B().deallocate(p, big);
  EXPECT_EQ(cpu_cached_bytes(), 3 * big * sizeof(float));
  for (float*& p : blocks) p = B().allocate(big);  // served from the cache
  EXPECT_EQ(cpu_cached_bytes(), 0u);
  // Other sizes never push live + cached beyond the peak + 256 MiB: the
  // 3 x 128 MiB kept are given back as 4 x 136 MiB are allocated.
  for (float* p : blocks) B().deallocate(p, big);
  const size_t other = size_t(34) << 20;  // 136 MiB
  std::vector<float*> others;
  for (int i = 0; i < 4; ++i) {
    others.push_back(B().allocate(other));
    EXPECT_LE(cpu_cached_bytes() + (i + 1) * other * sizeof(float) + n * sizeof(float),
              4 * other * sizeof(float) + n * sizeof(float) + (size_t(256) << 20))
        << "after " << i + 1 << " blocks";
  }
  for (float* p : others) B().deallocate(p, other);
  const size_t peak = 4 * other * sizeof(float) + n * sizeof(float);
  EXPECT_LE(cpu_cached_bytes(), peak + (size_t(256) << 20));
  EXPECT_GT(cpu_cached_bytes(), 0u);
  B().deallocate(b, n);
  cpu_release_cached_memory();
  EXPECT_EQ(cpu_cached_bytes(), 0u);
}

TEST(CpuBackend, ConvBackwardWithoutOptionalGradientsGivesTheSameWeightGradient) {
  // Large enough for both threads to take samples (per-thread partial sums).
  auto g = make_conv_geometry(16, 3, 10, 10, 8, 3, 3, 1, 1, 1, 1);
  auto x = randv((size_t)g.N * g.C * g.H * g.W, 31), w = randv((size_t)g.K * g.C * 9, 32),
       dy = randv((size_t)g.N * g.K * g.P * g.Q, 33);
  // Under Auto too: the weight gradient's kernel is one choice whether or
  // not dx and db are wanted (an ASan run once chose differently for the two
  // calls when db was part of the key).
  for (auto impl : {CpuConvImpl::OneDnn, CpuConvImpl::Im2col, CpuConvImpl::Auto}) {
    set_cpu_conv_impl(impl);
    std::vector<float> dx(x.size()), dw(w.size()), db(g.K), dw2(w.size(), 7.f);
    B().conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    B().conv2d_backward(g, x.data(), w.data(), dy.data(), nullptr, dw2.data(), nullptr);
    for (size_t i = 0; i < dw.size(); ++i) ASSERT_NEAR(dw[i], dw2[i], 1e-5) << i << " impl " << int(impl);
    for (int k = 0; k < g.K; ++k) {
      double s = 0;
      for (int n = 0; n < g.N; ++n)
        for (int i = 0; i < g.P * g.Q; ++i) s += dy[((size_t)n * g.K + k) * g.P * g.Q + i];
      ASSERT_NEAR(db[k], s, 1e-4 * (1 + std::abs(s))) << k;
    }
  }
  set_cpu_conv_impl(CpuConvImpl::Auto);
}

TEST(CpuBackend, OneDnnConvolutionMatchesTheIm2colReference) {
  const test::WinogradRestore winograd_default;
  struct Case {
    int N, C, H, W, K, R, S, stride, pad, dil, groups = 1;
  };
  for (Case c : {Case{4, 1, 28, 28, 32, 3, 3, 1, 1, 1}, Case{3, 16, 14, 14, 32, 3, 3, 2, 1, 1},
                 Case{2, 5, 9, 7, 6, 3, 3, 1, 2, 2}, Case{2, 16, 7, 7, 24, 1, 1, 2, 0, 1},
                 Case{2, 8, 28, 28, 16, 1, 1, 2, 0, 1}, Case{2, 3, 8, 8, 4, 5, 5, 1, 2, 1},
                 // grouped, and MobileNet's depthwise 3x3 (stride 1 and 2, odd planes)
                 Case{2, 8, 9, 9, 12, 3, 3, 1, 1, 1, 4}, Case{3, 32, 14, 14, 32, 3, 3, 1, 1, 1, 32},
                 Case{2, 24, 15, 15, 24, 3, 3, 2, 1, 1, 24}, Case{2, 6, 7, 7, 12, 3, 3, 1, 1, 1, 6},
                 // Winograd's: its forward and gradients (padding 1 and 0)
                 Case{3, 16, 14, 14, 32, 3, 3, 1, 1, 1}, Case{2, 32, 9, 8, 16, 3, 3, 1, 0, 1}}) {
    auto g =
        make_conv_geometry(c.N, c.C, c.H, c.W, c.K, c.R, c.S, c.stride, c.stride, c.pad, c.pad, c.dil, c.dil, c.groups);
    auto x = randv((size_t)c.N * c.C * c.H * c.W, 41), w = randv((size_t)c.K * (c.C / c.groups) * c.R * c.S, 42),
         b = randv(c.K, 43), dy = randv((size_t)c.N * c.K * g.P * g.Q, 44);
    // 0: oneDNN (and Winograd where it applies), 1: Auto's measured choice,
    // 2: oneDNN alone, 3: the im2col reference.
    std::vector<float> y[4], dx[4], dw[4], db[4];
    const CpuConvImpl impls[4] = {CpuConvImpl::OneDnn, CpuConvImpl::Auto, CpuConvImpl::OneDnn, CpuConvImpl::Im2col};
    const bool winograd = winograd_applies(g);
    for (int impl = 0; impl < 4; ++impl) {
      set_cpu_conv_impl(impls[impl]);
      set_cpu_winograd(impl != 2);
      const long calls = winograd_calls();
      y[impl].resize(dy.size());
      dx[impl].resize(x.size());
      dw[impl].resize(w.size());
      db[impl].resize(c.K);
      B().conv2d_forward(g, x.data(), w.data(), b.data(), y[impl].data());
      B().conv2d_backward(g, x.data(), w.data(), dy.data(), dx[impl].data(), dw[impl].data(), db[impl].data());
      if (impl == 0) {
        EXPECT_EQ(winograd_calls() - calls, winograd ? 3 : 0) << "forward and both gradients";
      }
      if (impl >= 2) {
        EXPECT_EQ(winograd_calls(), calls);
      }
    }
    set_cpu_winograd(winograd_default.use);
    set_cpu_conv_impl(CpuConvImpl::Auto);
    auto close = [](const std::vector<float>& a, const std::vector<float>& r, const char* what) {
      for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], r[i], 1e-4f * (1 + std::abs(r[i]))) << what << " " << i;
    };
    for (int impl = 0; impl < 3; ++impl) {
      SCOPED_TRACE(impl == 0 ? "oneDNN" : impl == 1 ? "Auto" : "oneDNN without Winograd");
      close(y[impl], y[3], "y");
      close(dx[impl], dx[3], "dx");
      close(dw[impl], dw[3], "dw");
      close(db[impl], db[3], "db");
    }
  }
}

TEST(CpuBackend, OneDnnWinogradRunsWhereTheRuleSaysAndMatchesIm2col) {
  // oneDNN's Winograd F(4x4, 3x3) against the im2col reference: forward with
  // bias and ReLU, both gradients, a residual chain (sum post-op); and the
  // implementation oneDNN reports follows dnnl_winograd_suits.
  const bool avx512 = cpu_isa_has(dnnl_cpu_isa_avx512_core);
  if (!avx512) std::printf("[ note ] no AVX-512: oneDNN refuses Winograd, its direct kernels run (checked too)\n");
  const test::WinogradRestore winograd_default;
  const bool dnnl_winograd_default = dnnl_winograd();
  set_cpu_winograd(false);  // our own kernels stay out of this comparison
  struct Case {
    int N, C, H, K;
    bool fwd, data, weights;  // what the rule gives
  };
  for (Case c : {Case{8, 32, 14, 32, true, true, false}, Case{8, 64, 14, 64, true, true, true},
                 Case{8, 64, 7, 64, true, true, false},        // 8 x 2 x 2 = 32 tiles: direct
                 Case{8, 16, 28, 16, false, false, false},     // 16 channels: direct
                 Case{4, 64, 28, 64, false, false, false}}) {  // batch under 8: direct
    SCOPED_TRACE("N=" + std::to_string(c.N) + " C=" + std::to_string(c.C) + " H=" + std::to_string(c.H));
    auto g = make_conv_geometry(c.N, c.C, c.H, c.H, c.K, 3, 3, 1, 1, 1, 1);
    if (c.H == 7) c.fwd = c.data = false;
    EXPECT_EQ(dnnl_winograd_suits(g, ConvChoiceKey::Forward), c.fwd);
    EXPECT_EQ(dnnl_winograd_suits(g, ConvChoiceKey::BackwardData), c.data);
    EXPECT_EQ(dnnl_winograd_suits(g, ConvChoiceKey::BackwardWeights), c.weights);
    set_cpu_conv_impl(CpuConvImpl::OneDnn);
    set_dnnl_winograd(true);
    const DnnlConvImpls impls = dnnl_conv_impls(g);
    auto wino = [](const std::string& impl) { return impl.find("wino") != std::string::npos; };
    if (avx512) {
      EXPECT_EQ(wino(impls.forward), c.fwd) << impls.forward;
      EXPECT_EQ(wino(impls.backward_data), c.data) << impls.backward_data;
      EXPECT_EQ(wino(impls.backward_weights), c.weights) << impls.backward_weights;
    }
    set_dnnl_winograd(false);
    EXPECT_FALSE(wino(dnnl_conv_impls(g).forward));
    if (c.C == 64 && c.H == 14) {  // the same kind of layer on a large plane: its scratchpad would be ~0.9 GB
      set_dnnl_winograd(true);
      const auto big = make_conv_geometry(32, 128, 112, 112, 128, 3, 3, 1, 1, 1, 1);
      EXPECT_TRUE(dnnl_winograd_suits(big, ConvChoiceKey::Forward));
      EXPECT_FALSE(wino(dnnl_conv_impls(big).forward)) << dnnl_conv_impls(big).forward;
      EXPECT_FALSE(wino(dnnl_conv_impls(big).backward_data));
      set_dnnl_winograd(false);
    }
    EXPECT_FALSE(wino(dnnl_conv_impls(g).backward_weights));

    auto x = randv(size_t(c.N) * c.C * c.H * c.H, 71), w = randv(size_t(c.K) * c.C * 9, 72), b = randv(c.K, 73),
         dy = randv(size_t(c.N) * c.K * g.P * g.Q, 74);
    for (float& v : w) v /= std::sqrt(float(c.C * 9));
    std::vector<float> y[2], dx[2], dw[2], db[2];
    for (int impl = 0; impl < 2; ++impl) {  // 0: oneDNN with Winograd, 1: im2col
      set_cpu_conv_impl(impl == 0 ? CpuConvImpl::OneDnn : CpuConvImpl::Im2col);
      set_dnnl_winograd(impl == 0);
      y[impl].resize(dy.size());
      dx[impl].resize(x.size());
      dw[impl].resize(w.size());
      db[impl].resize(size_t(c.K));
      B().conv2d_forward_relu(g, x.data(), w.data(), b.data(), y[impl].data());
      B().conv2d_backward(g, x.data(), w.data(), dy.data(), dx[impl].data(), dw[impl].data(), db[impl].data());
    }
    // Winograd's transforms round differently: tolerance by each output's scale.
    auto close = [](const std::vector<float>& a, const std::vector<float>& r, const char* what) {
      float scale = 0;
      for (float v : r) scale = std::max(scale, std::abs(v));
      for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], r[i], 2e-5f * (1 + scale)) << what << " " << i;
    };
    close(y[0], y[1], "y");
    close(dx[0], dx[1], "dx");
    close(dw[0], dw[1], "dw");
    close(db[0], db[1], "db");

    // A residual chain: link 1 adds link 0's input before its ReLU.
    ConvLink l0, l1;
    l0.g = l1.g = g;
    l0.w = l1.w = w.data();
    l0.bias = l1.bias = b.data();
    l0.post = ConvPost::ReLU;
    l1.post = ConvPost::ReLU;
    l1.residual_from = 0;
    const ConvLink links[2] = {l0, l1};
    std::vector<float> chained(y[0].size()), apart(y[0].size());
    set_cpu_conv_impl(CpuConvImpl::OneDnn);
    set_dnnl_winograd(true);
    ASSERT_TRUE(dnnl_conv_chain_forward(2, links, x.data(), chained.data()));
    set_cpu_conv_impl(CpuConvImpl::Im2col);
    conv_chain_link_by_link(B(), 2, links, x.data(), apart.data());
    close(chained, apart, "chain");
  }
  set_dnnl_winograd(dnnl_winograd_default);
  set_cpu_conv_impl(CpuConvImpl::Auto);
}

TEST(CpuBackend, CachedPrimitivesOutliveTheThreadThatMadeThem) {
  // Each training runs on a thread of its own and primitives are cached for
  // the process: a primitive made on a thread that has ended must still run
  // (oneDNN's own scratchpad died with its thread; Winograd wrote through it).
  const test::WinogradRestore winograd_default;
  set_cpu_conv_impl(CpuConvImpl::OneDnn);
  set_cpu_winograd(false);
  auto g = make_conv_geometry(8, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1);  // Winograd on AVX-512
  auto x = randv(size_t(8) * 64 * 196, 81), w = randv(size_t(64) * 64 * 9, 82), b = randv(64, 83),
       dy = randv(size_t(8) * 64 * 196, 84), lx = randv(size_t(32) * 300, 85), lw = randv(size_t(200) * 300, 86),
       lb = randv(200, 87);
  struct Out {
    std::vector<float> y, dx, dw, db, ly;
  };
  auto run = [&](Out& o) {
    o.y.resize(dy.size());
    o.dx.resize(x.size());
    o.dw.resize(w.size());
    o.db.resize(64);
    o.ly.resize(size_t(32) * 200);
    B().conv2d_forward_relu(g, x.data(), w.data(), b.data(), o.y.data());
    B().conv2d_backward(g, x.data(), w.data(), dy.data(), o.dx.data(), o.dw.data(), o.db.data());
    B().linear_forward(32, 300, 200, lx.data(), lw.data(), lb.data(), ConvPost::ReLU, o.ly.data());
  };
  Out first, again;
  const int threads = cpu_threads();  // the same count, so the same cached primitives serve both threads
  std::thread maker([&] {             // creates and caches the primitives, then ends
    set_cpu_threads(threads);
    run(first);
  });
  maker.join();
  run(again);
  EXPECT_EQ(first.y, again.y);
  EXPECT_EQ(first.dx, again.dx);
  EXPECT_EQ(first.dw, again.dw);
  EXPECT_EQ(first.db, again.db);
  EXPECT_EQ(first.ly, again.ly);
  set_cpu_conv_impl(CpuConvImpl::Auto);
}

TEST(CpuBackend, OneChannelWeightGradientsRunOnIm2colUnderOneDnn) {
  // The default's one fixed exception: bit for bit im2col's weight gradient
  // for a one-channel layer; oneDNN's for two channels.
  set_cpu_conv_impl(CpuConvImpl::OneDnn);
  for (int C : {1, 2}) {
    auto g = make_conv_geometry(8, C, 12, 12, 16, 3, 3, 1, 1, 1, 1);
    auto x = randv(size_t(8) * C * 144, 61), w = randv(size_t(16) * C * 9, 62), dy = randv(size_t(8) * 16 * 144, 63);
    std::vector<float> dw(w.size()), db(16), ref_dw(w.size()), ref_db(16);
    B().conv2d_backward(g, x.data(), w.data(), dy.data(), nullptr, dw.data(), db.data());
    if (C == 1) {
      EXPECT_TRUE(one_channel_weight_gradient_on_im2col(g));
      im2col_conv_backward(g, x.data(), w.data(), dy.data(), nullptr, ref_dw.data(), ref_db.data());
    } else {
      EXPECT_FALSE(one_channel_weight_gradient_on_im2col(g));
      ASSERT_TRUE(dnnl_conv_backward(g, x.data(), w.data(), dy.data(), nullptr, ref_dw.data(), ref_db.data()));
    }
    EXPECT_EQ(dw, ref_dw) << "C=" << C;
    EXPECT_EQ(db, ref_db) << "C=" << C;
  }
  EXPECT_FALSE(one_channel_weight_gradient_on_im2col(make_conv_geometry(2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4)));
  set_cpu_conv_impl(CpuConvImpl::Auto);
}

TEST(CpuBackend, OneDnnPathActuallyRunsForPlainConvolutions) {
  // A forward through oneDNN leaves no trace in im2col's scratch, so check the
  // switch itself: Auto reports oneDNN as taken, Im2col refuses it.
  auto g = make_conv_geometry(2, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1);
  auto x = randv(2 * 4 * 36, 51), w = randv(8 * 4 * 9, 52);
  std::vector<float> y(2 * 8 * 36);
  set_cpu_conv_impl(CpuConvImpl::OneDnn);
  EXPECT_TRUE(dnnl_conv_forward(g, x.data(), w.data(), nullptr, y.data()));
  set_cpu_conv_impl(CpuConvImpl::Im2col);
  EXPECT_FALSE(dnnl_conv_forward(g, x.data(), w.data(), nullptr, y.data()));
  set_cpu_conv_impl(CpuConvImpl::Auto);
  // ResNet's 1x1 stride-2 projection on 28x28 (exact right padding -1).
  auto proj = make_conv_geometry(1, 4, 28, 28, 8, 1, 1, 2, 2, 0, 0);
  std::vector<float> xp(4 * 28 * 28, 1.f), yp(8 * 14 * 14);
  EXPECT_TRUE(dnnl_conv_forward(proj, xp.data(), w.data(), nullptr, yp.data()));
  // Grouped and depthwise convolutions take oneDNN too (not im2col per group).
  auto grouped = make_conv_geometry(2, 4, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2);
  EXPECT_TRUE(dnnl_conv_forward(grouped, x.data(), w.data(), nullptr, y.data()));
  auto depthwise = make_conv_geometry(2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4);
  EXPECT_TRUE(dnnl_conv_forward(depthwise, x.data(), w.data(), nullptr, y.data()));
}

TEST(CpuBackend, ConvChainEqualsItsLinksOneByOne) {
  const test::WinogradRestore winograd_default;
  // MobileNetV2-like links (1-channel stem with stride 2, 1x1 expand,
  // depthwise 3x3, 1x1 project without post-op), a plain 3x3 pair, and
  // SimpleCNN-like conv-relu-maxpool links (pool 2x2 on an odd plane, a
  // padded 3x3 stride 2 pool, a pool ending the chain): the chain keeps
  // oneDNN's blocked layout between links, its result must be the ops run
  // one by one through NCHW, on both implementations.
  struct L {
    int K, R, stride, pad, groups;
    ConvPost post;
    int pool_k = 0, pool_s = 0, pool_p = 0;  // pool_k 0: no pooling
  };
  const std::vector<std::vector<L>> chains = {
      {{8, 3, 2, 1, 1, ConvPost::ReLU},
       {24, 1, 1, 0, 1, ConvPost::ReLU6},
       {24, 3, 1, 1, 24, ConvPost::ReLU6},
       {8, 1, 1, 0, 1, ConvPost::None}},
      {{16, 3, 1, 1, 1, ConvPost::ReLU}, {16, 3, 1, 1, 1, ConvPost::None}},
      {{16, 3, 1, 1, 1, ConvPost::ReLU, 2, 2, 0}, {32, 3, 1, 1, 1, ConvPost::ReLU, 2, 2, 0}},
      {{16, 3, 1, 1, 1, ConvPost::None, 3, 2, 1}, {8, 1, 1, 0, 1, ConvPost::ReLU}},
      {{16, 3, 1, 1, 1, ConvPost::ReLU, 2, 2, 0}},
  };
  for (size_t ci = 0; ci < chains.size(); ++ci) {
    const auto& links = chains[ci];
    std::vector<ConvLink> cl;
    std::vector<std::vector<float>> w, b;
    int C = ci == 0 ? 1 : 16, H = 17, W = 15;
    for (size_t i = 0; i < links.size(); ++i) {
      const L& l = links[i];
      ConvLink c;
      c.g = make_conv_geometry(3, C, H, W, l.K, l.R, l.R, l.stride, l.stride, l.pad, l.pad, 1, 1, l.groups);
      w.push_back(randv(size_t(l.K) * (C / l.groups) * l.R * l.R, 70 + i));
      b.push_back(randv(size_t(l.K), 80 + i));
      c.post = l.post;
      C = l.K;
      H = c.g.P;
      W = c.g.Q;
      if (l.pool_k) {
        c.pool = make_pool_geometry(3, C, H, W, l.pool_k, l.pool_k, l.pool_s, l.pool_s, l.pool_p, l.pool_p);
        H = c.pool.P;
        W = c.pool.Q;
      }
      cl.push_back(c);
    }
    const auto x = randv(size_t(3) * cl[0].g.C * cl[0].g.H * cl[0].g.W, 90);
    for (size_t i = 0; i < cl.size(); ++i) {
      cl[i].w = w[i].data();
      cl[i].bias = i == 1 ? nullptr : b[i].data();  // a link without bias too
    }
    for (auto [impl, winograd] : {std::pair{CpuConvImpl::OneDnn, true}, std::pair{CpuConvImpl::OneDnn, false},
                                  std::pair{CpuConvImpl::Im2col, false}}) {
      set_cpu_conv_impl(impl);
      set_cpu_winograd(winograd);
      std::vector<float> in = x, out;
      for (size_t i = 0; i < cl.size(); ++i) {
        const ConvGeometry& g = cl[i].g;
        out.assign(size_t(3) * g.K * g.P * g.Q, 0.f);
        B().conv2d_forward(g, in.data(), cl[i].w, cl[i].bias, out.data());
        for (float& v : out) {
          if (cl[i].post != ConvPost::None) v = std::max(v, 0.f);
          if (cl[i].post == ConvPost::ReLU6) v = std::min(v, 6.f);
        }
        if (cl[i].pooled()) {
          std::vector<float> pooled(cl[i].out_floats());
          B().maxpool2d_forward(cl[i].pool, out.data(), pooled.data());
          out = pooled;
        }
        in = out;
      }
      ASSERT_EQ(out.size(), cl.back().out_floats());
      std::vector<float> chained(out.size(), -1.f), apart(out.size(), -2.f);
      B().conv2d_chain_forward(int(cl.size()), cl.data(), x.data(), chained.data());
      conv_chain_link_by_link(B(), int(cl.size()), cl.data(), x.data(), apart.data());
      if (impl == CpuConvImpl::OneDnn) {  // the blocked path itself ran, pooling included
        std::vector<float> direct(out.size(), -3.f);
        const long calls = winograd_calls();
        ASSERT_TRUE(dnnl_conv_chain_forward(int(cl.size()), cl.data(), x.data(), direct.data())) << "chain " << ci;
        // Chain 1's two 16 -> 16 3x3 links are Winograd's, chain 0's links none.
        if (ci <= 1) {
          EXPECT_EQ(winograd_calls() - calls, winograd && ci == 1 ? 2 : 0) << "chain " << ci;
        }
        for (size_t i = 0; i < out.size(); ++i)
          ASSERT_NEAR(direct[i], out[i], 1e-4f * (1 + std::abs(out[i]))) << "oneDNN chain " << ci << " i=" << i;
        // Sub-batches (a whole batch overflowing the cache): one image at a
        // time, then 2 + 1 of the 3.
        size_t per_image = 0;
        for (const ConvLink& l : cl)  // every link output of one image, as the sub-batching counts
          per_image += sizeof(float) *
                       (size_t(l.g.K) * l.g.P * l.g.Q + (l.pooled() ? size_t(l.pool.C) * l.pool.P * l.pool.Q : 0));
        for (size_t bytes : {size_t(1), 2 * per_image}) {
          set_conv_chain_bytes(bytes);
          std::vector<float> split(out.size(), -4.f);
          ASSERT_TRUE(dnnl_conv_chain_forward(int(cl.size()), cl.data(), x.data(), split.data())) << "chain " << ci;
          for (size_t i = 0; i < out.size(); ++i)
            ASSERT_NEAR(split[i], direct[i], 1e-5f * (1 + std::abs(direct[i])))
                << "sub-batches of " << bytes << " bytes, chain " << ci << " i=" << i;
        }
        set_conv_chain_bytes(kConvChainBytes);
      }
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_NEAR(chained[i], out[i], 1e-4f * (1 + std::abs(out[i])))
            << "chain " << ci << (impl == CpuConvImpl::OneDnn ? " oneDNN" : " im2col") << " Winograd " << winograd
            << " i=" << i;
        ASSERT_NEAR(apart[i], out[i], 1e-4f * (1 + std::abs(out[i]))) << "link by link, chain " << ci << " i=" << i;
      }
    }
  }
  set_cpu_conv_impl(CpuConvImpl::Auto);
}

TEST(CpuBackend, AutoConvChoiceIsMeasuredOncePerShapeAndPass) {
  // Auto times oneDNN against im2col on the first samples of the first batch
  // of a shape and keeps the faster (oneDNN unless im2col is 10 % faster).
  // Batches from kConvTrialBatch up share a choice; smaller ones have their own.
  set_cpu_conv_impl(CpuConvImpl::Auto);
  conv_choices_clear();
  auto run = [](int N, bool relu) {
    auto g = make_conv_geometry(N, 1, 12, 12, 8, 3, 3, 1, 1, 1, 1);
    auto x = randv(size_t(N) * 144, 71), w = randv(72, 72), b = randv(8, 73), dy = randv(size_t(N) * 8 * 144, 74);
    std::vector<float> y(dy.size()), dw(w.size()), db(8), dx(x.size());
    if (relu)
      B().conv2d_forward_relu(g, x.data(), w.data(), b.data(), y.data());
    else
      B().conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
    B().conv2d_backward(g, x.data(), w.data(), dy.data(), nullptr, dw.data(), db.data());  // a first layer
    B().conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), nullptr);
  };
  run(kConvTrialBatch + 8, false);
  auto choices = conv_choices();
  // forward; weight gradient (with or without db: one choice); input gradient
  ASSERT_EQ(choices.size(), 3u);
  std::set<std::tuple<int, bool>> seen;
  for (const ConvChoice& c : choices) {
    EXPECT_EQ(c.key.g.N, kConvTrialBatch);
    EXPECT_EQ(c.key.g.C, 1);
    EXPECT_GT(c.onednn_ms, 0.0) << conv_choice_pass_name(c.key.pass);  // both sides were timed
    EXPECT_GT(c.im2col_ms, 0.0);
    EXPECT_EQ(c.onednn, !(c.im2col_ms < 0.9 * c.onednn_ms)) << conv_choice_pass_name(c.key.pass);
    seen.insert({int(c.key.pass), c.key.bias});
  }
  EXPECT_TRUE(seen.count({int(ConvChoiceKey::Forward), true}));
  EXPECT_TRUE(seen.count({int(ConvChoiceKey::BackwardWeights), false}));
  EXPECT_TRUE(seen.count({int(ConvChoiceKey::BackwardData), false}));
  run(kConvTrialBatch + 24, false);  // a larger batch of the same shape: nothing new
  EXPECT_EQ(conv_choices().size(), 3u);
  run(4, true);  // a small batch and the ReLU post-op: three new keys at N = 4
  choices = conv_choices();
  ASSERT_EQ(choices.size(), 6u);
  int small = 0, relu = 0;
  for (const ConvChoice& c : choices) {
    small += c.key.g.N == 4;
    relu += c.key.pass == ConvChoiceKey::ForwardReLU;
  }
  EXPECT_EQ(small, 3);
  EXPECT_EQ(relu, 1);
  // Large planes are timed on fewer images (the trial's memory is extra):
  // 16 x 128 x 128 floats are 1 MiB per image.
  EXPECT_EQ(
      conv_choice_key(make_conv_geometry(64, 16, 128, 128, 16, 3, 3, 1, 1, 1, 1), ConvChoiceKey::Forward, false).g.N,
      int(kConvTrialBytes >> 20));
  // Forced modes neither measure nor consult the table.
  set_cpu_conv_impl(CpuConvImpl::OneDnn);
  run(9, false);
  set_cpu_conv_impl(CpuConvImpl::Im2col);
  run(10, false);
  EXPECT_EQ(conv_choices().size(), 6u);
  set_cpu_conv_impl(CpuConvImpl::Auto);
  EXPECT_EQ(conv_choice_cached(
                conv_choice_key(make_conv_geometry(500, 1, 12, 12, 8, 3, 3, 1, 1, 1, 1), ConvChoiceKey::Forward, true)),
            std::find_if(choices.begin(), choices.end(), [](const ConvChoice& c) {
              return c.key.g.N == kConvTrialBatch && c.key.pass == ConvChoiceKey::Forward;
            })->onednn);
}

TEST(CpuBackend, AutoConvChoiceSkipsIm2colTrialsThatWouldCostTooMuchMemory) {
  // 64 channels, 3x3, 256x256: im2col's column buffer is 151 MB per thread,
  // more than kConvTrialColBytes; oneDNN is kept without timing either.
  set_cpu_conv_impl(CpuConvImpl::Auto);
  conv_choices_clear();
  auto g = make_conv_geometry(1, 64, 256, 256, 8, 3, 3, 1, 1, 1, 1);
  auto x = randv(size_t(64) * 256 * 256, 150), w = randv(size_t(8) * 64 * 9, 151);
  std::vector<float> y(size_t(8) * 256 * 256), ref(y.size());
  B().conv2d_forward(g, x.data(), w.data(), nullptr, y.data());
  ASSERT_EQ(conv_choices().size(), 1u);
  EXPECT_TRUE(conv_choices()[0].onednn);
  EXPECT_EQ(conv_choices()[0].onednn_ms, 0.0);
  EXPECT_EQ(conv_choices()[0].im2col_ms, 0.0);
  set_cpu_conv_impl(CpuConvImpl::Im2col);  // the result is still right
  B().conv2d_forward(g, x.data(), w.data(), nullptr, ref.data());
  set_cpu_conv_impl(CpuConvImpl::Auto);
  for (size_t i = 0; i < y.size(); i += 97) ASSERT_NEAR(y[i], ref[i], 1e-3f * (1 + std::abs(ref[i]))) << i;
}

TEST(CpuBackend, AutoConvChoiceKeepsIm2colWhenOneDnnRefuses) {
  // A shape oneDNN has no primitive for is decided without timing.
  conv_choices_clear();
  const ConvChoiceKey key =
      conv_choice_key(make_conv_geometry(2, 1, 5, 5, 2, 3, 3, 1, 1, 0, 0), ConvChoiceKey::Forward, false);
  int im2col_runs = 0;
  EXPECT_FALSE(conv_choice_measure(
      key, [] { return false; }, [&] { ++im2col_runs; }));
  EXPECT_EQ(im2col_runs, 0);
  ASSERT_EQ(conv_choices().size(), 1u);
  EXPECT_EQ(conv_choices()[0].onednn_ms, 0.0);
  EXPECT_EQ(conv_choice_cached(key), std::optional<bool>(false));
}

TEST(CpuBackend, ResidualChainsAddTheirShortcutBeforeThePostOp) {
  const test::WinogradRestore winograd_default;
  // y = post(conv + bias + s), s = an earlier link's input as is or through a
  // 1x1 projection: oneDNN's sum post-op in the blocked layout and the
  // link-by-link form, against convolutions, adds and activations done here.
  using L = test::ChainLinkSpec;
  const std::vector<std::vector<L>> chains = {
      {{16, 1, -1, false, ConvPost::ReLU}, {16, 1, 0, false, ConvPost::ReLU}},  // identity, ReLU after the sum
      {{16, 1, -1, false, ConvPost::ReLU},  // stem, then a downsampling block with a projection
       {32, 2, -1, false, ConvPost::ReLU},
       {32, 1, 1, true, ConvPost::None},
       {32, 1, -1, false, ConvPost::ReLU6},
       {32, 1, 3, false, ConvPost::ReLU6}},
      // One input the shortcut of two links: the first copies it, the second
      // (its last reader, not the chain's last link) adds in its buffer.
      {{16, 1, -1, false, ConvPost::ReLU},
       {16, 1, -1, false, ConvPost::ReLU},
       {16, 1, 1, false, ConvPost::ReLU},
       {16, 1, 1, false, ConvPost::ReLU},
       {16, 1, -1, false, ConvPost::None}}};
  const int winograd_links[] = {2, 3, 4};  // 3x3 stride-1 links with blocked operands
  for (size_t ci = 0; ci < chains.size(); ++ci) {
    const auto& spec = chains[ci];
    const int N = 3;
    const test::TestChain tc(spec, N, ci == 0 ? 16 : 3, 11, 9, 100);
    std::vector<ConvLink> cl = tc.links;
    const auto x = randv(size_t(N) * cl[0].g.C * cl[0].g.H * cl[0].g.W, 140);
    // Reference, op by op on the im2col path.
    set_cpu_conv_impl(CpuConvImpl::Im2col);
    std::vector<std::vector<float>> ins{x};
    for (size_t i = 0; i < cl.size(); ++i) {
      const ConvGeometry& g = cl[i].g;
      std::vector<float> out(size_t(N) * g.K * g.P * g.Q);
      B().conv2d_forward(g, ins[i].data(), cl[i].w, cl[i].bias, out.data());
      if (cl[i].residual()) {
        std::vector<float> s = ins[size_t(cl[i].residual_from)];
        if (cl[i].proj_w) {
          std::vector<float> p(out.size());
          B().conv2d_forward(cl[i].proj_g, s.data(), cl[i].proj_w, cl[i].proj_bias, p.data());
          s = p;
        }
        ASSERT_EQ(s.size(), out.size());
        for (size_t k = 0; k < out.size(); ++k) out[k] += s[k];
      }
      for (float& v : out) {
        if (cl[i].post != ConvPost::None) v = std::max(v, 0.f);
        if (cl[i].post == ConvPost::ReLU6) v = std::min(v, 6.f);
      }
      ins.push_back(out);
    }
    const std::vector<float>& ref = ins.back();
    // Values grow through unnormalised layers and cancel: tolerance by the output's scale.
    float scale = 0;
    for (float v : ref) scale = std::max(scale, std::abs(v));
    const float tol = 1e-5f * (1 + scale);
    for (auto impl : {CpuConvImpl::OneDnn, CpuConvImpl::Im2col}) {
      set_cpu_conv_impl(impl);
      std::vector<float> apart(ref.size(), -2.f);
      conv_chain_link_by_link(B(), int(cl.size()), cl.data(), x.data(), apart.data());
      for (size_t k = 0; k < ref.size(); ++k)
        ASSERT_NEAR(apart[k], ref[k], tol) << "link by link, chain " << ci << " k=" << k;
    }
    set_cpu_conv_impl(CpuConvImpl::OneDnn);
    // With Winograd the shortcut is added by its output transform (read in
    // place for identities); its 3x3 stride-1 links: chain 0 both, chain 1
    // three of five, chain 2 all but the three-channel stem.
    for (bool winograd : {true, false})
      for (size_t bytes : {kConvChainBytes, size_t(1)}) {  // whole batch, then one image at a time
        set_cpu_winograd(winograd);
        set_conv_chain_bytes(bytes);
        std::vector<float> chained(ref.size(), -1.f);
        const long calls = winograd_calls();
        ASSERT_TRUE(dnnl_conv_chain_forward(int(cl.size()), cl.data(), x.data(), chained.data()))
            << "oneDNN refused residual chain " << ci;
        EXPECT_EQ(winograd_calls() - calls, !winograd ? 0 : winograd_links[ci] * (bytes == 1 ? N : 1));
        for (size_t k = 0; k < ref.size(); ++k)
          ASSERT_NEAR(chained[k], ref[k], tol) << "oneDNN chain " << ci << " Winograd " << winograd << " k=" << k;
      }
    set_cpu_winograd(winograd_default.use);
    set_conv_chain_bytes(kConvChainBytes);
    // A shortcut that does not fit the output is refused, not guessed at.
    std::vector<ConvLink> bad = cl;
    bad.back().residual_from = ci == 0 ? 1 : 0;
    if (ci == 1) bad.back().proj_w = nullptr;
    std::vector<float> out(ref.size());
    if (ci == 0) bad.back().residual_from = 2;  // not an earlier link
    EXPECT_FALSE(dnnl_conv_chain_forward(int(bad.size()), bad.data(), x.data(), out.data())) << "chain " << ci;
    EXPECT_THROW(conv_chain_link_by_link(B(), int(bad.size()), bad.data(), x.data(), out.data()), Error);
  }
  set_cpu_conv_impl(CpuConvImpl::Auto);
}

TEST(CpuBackend, BlockedMaxPoolEqualsPlainMaxPool) {
  // The inference chains' own pooling of oneDNN's nChw8c / nChw16c output,
  // against the plain NCHW op: channels not a multiple of the block, odd
  // planes, padding, overlapping windows.
  struct Case {
    int C, H, W, k, s, p;
  };
  for (int block : {8, 16})
    for (Case c :
         {Case{12, 9, 7, 2, 2, 0}, Case{16, 14, 14, 2, 2, 0}, Case{5, 11, 10, 3, 2, 1}, Case{24, 6, 6, 3, 1, 1}}) {
      const int N = 3, CB = (c.C + block - 1) / block;
      auto g = make_pool_geometry(N, c.C, c.H, c.W, c.k, c.k, c.s, c.s, c.p, c.p);
      auto x = randv(size_t(N) * c.C * c.H * c.W, 95);
      x[7] = std::nanf("");  // NaN propagates, as in the plain op
      x[x.size() - 3] = std::nanf("");
      std::vector<float> plain(size_t(N) * c.C * g.P * g.Q);
      B().maxpool2d_forward(g, x.data(), plain.data());
      // NCHW -> blocked (padding channels hold a value that must not leak).
      std::vector<float> xb(size_t(N) * CB * c.H * c.W * block, 1e30f);
      for (int n = 0; n < N; ++n)
        for (int ch = 0; ch < c.C; ++ch)
          for (int i = 0; i < c.H * c.W; ++i)
            xb[((size_t(n) * CB + ch / block) * c.H * c.W + i) * block + ch % block] =
                x[(size_t(n) * c.C + ch) * c.H * c.W + i];
      std::vector<float> yb(size_t(N) * CB * g.P * g.Q * block, -1.f);
      maxpool2d_forward_blocked(g, block, xb.data(), yb.data());
      for (int n = 0; n < N; ++n)
        for (int ch = 0; ch < c.C; ++ch)
          for (int i = 0; i < g.P * g.Q; ++i)
            ASSERT_EQ(std::isnan(yb[((size_t(n) * CB + ch / block) * g.P * g.Q + i) * block + ch % block])
                          ? 1.f
                          : yb[((size_t(n) * CB + ch / block) * g.P * g.Q + i) * block + ch % block],
                      std::isnan(plain[(size_t(n) * c.C + ch) * g.P * g.Q + i])
                          ? 1.f
                          : plain[(size_t(n) * c.C + ch) * g.P * g.Q + i])
                << "block " << block << " C=" << c.C << " k=" << c.k << " n=" << n << " ch=" << ch << " i=" << i;
    }
}

TEST(CpuBackend, ConvForwardReluEqualsConvThenRelu) {
  // The fused inference ops (oneDNN ReLU / clip post-op; im2col and grouped
  // convolutions fall back to conv then relu) against the two ops apart.
  struct Case {
    int N, C, H, W, K, groups;
  };
  int above6 = 0;  // over every case: ReLU6's upper bound must be reached
  for (Case c : {Case{3, 16, 14, 14, 32, 1}, Case{2, 1, 28, 28, 16, 1}, Case{2, 4, 9, 9, 8, 2}}) {
    for (auto impl : {CpuConvImpl::OneDnn, CpuConvImpl::Auto, CpuConvImpl::Im2col}) {
      set_cpu_conv_impl(impl);
      auto g = make_conv_geometry(c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1, 1, 1, 1, 1, c.groups);
      auto x = randv((size_t)c.N * c.C * c.H * c.W, 61), w = randv((size_t)c.K * (c.C / c.groups) * 9, 62),
           b = randv(c.K, 63);
      const size_t n = (size_t)c.N * c.K * g.P * g.Q;
      std::vector<float> fused(n), fused6(n), apart(n);
      B().conv2d_forward_relu(g, x.data(), w.data(), b.data(), fused.data());
      B().conv2d_forward_relu6(g, x.data(), w.data(), b.data(), fused6.data());
      B().conv2d_forward(g, x.data(), w.data(), b.data(), apart.data());
      // Within float rounding of the output's scale: Auto measures which
      // kernel runs each op, and the fused one may be our F(4x4) Winograd
      // (AVX2), whose rounding is ~1e-5 of the largest output, not of each.
      float scale = 0.f;
      for (float v : apart) scale = std::max(scale, std::abs(v));
      const float tol = 1e-5f * (1 + scale);
      int negatives = 0;
      for (size_t i = 0; i < n; ++i) {
        negatives += apart[i] < 0;
        above6 += apart[i] > 6;
        ASSERT_NEAR(fused[i], std::max(apart[i], 0.f), tol) << "case C=" << c.C << " groups=" << c.groups << " i=" << i;
        ASSERT_NEAR(fused6[i], std::min(std::max(apart[i], 0.f), 6.f), tol)
            << "relu6, case C=" << c.C << " groups=" << c.groups << " i=" << i;
      }
      EXPECT_GT(negatives, int(n / 4));  // the ReLU had work to do
    }
  }
  EXPECT_GT(above6, 0) << "no value reached ReLU6's upper bound: the test cannot see the clip";
  set_cpu_conv_impl(CpuConvImpl::Auto);
}

namespace {
// NCHW <-> [N][ceil(C/b)][H][W][b]; padding channels get `fill`.
std::vector<float> to_blocked(const std::vector<float>& x, int N, int C, int HW, int b, float fill) {
  const int CB = (C + b - 1) / b;
  std::vector<float> y(size_t(N) * CB * HW * b, fill);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < HW; ++i) y[((size_t(n) * CB + c / b) * HW + i) * b + c % b] = x[(size_t(n) * C + c) * HW + i];
  return y;
}
std::vector<float> from_blocked(const std::vector<float>& y, int N, int C, int HW, int b) {
  const int CB = (C + b - 1) / b;
  std::vector<float> x(size_t(N) * C * HW);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < HW; ++i) x[(size_t(n) * C + c) * HW + i] = y[((size_t(n) * CB + c / b) * HW + i) * b + c % b];
  return x;
}
}  // namespace

TEST(CpuBackend, WinogradEqualsTheDirectConvolution) {
  // F(2x2, 3x3) on blocked tensors against im2col: odd and tiny planes
  // (partial and border tiles), padding 0-2, channel counts that leave a
  // half-filled 16-block, K not a multiple of 16, both block sizes on each
  // side, every post-op, a shortcut to add, no bias; then the input, weight
  // and bias gradients.
  struct Case {
    int N, C, H, W, K, pad;
  };
  // Tolerance by each output's scale: entries near zero are sums that cancel
  // (F(4x4)'s transforms, with 4, 5 and 1/6, round a few times more than a
  // direct sum; measured here up to 1.3e-5 of the scale with 128 input
  // channels, F(2x2) under 1e-5).
  auto max_abs = [](const std::vector<float>& v) {
    float m = 0;
    for (float e : v) m = std::max(m, std::abs(e));
    return m;
  };
  auto near = [&](const std::vector<float>& got, const std::vector<float>& ref, const char* what, int combo, int tile,
                  float scale = -1) {
    if (scale < 0) scale = max_abs(ref);
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], ref[i], (tile == 4 ? 3e-5f : 1e-5f) * (1 + scale))
          << what << ", tile " << tile << " case " << combo << " i=" << i;
  };
  int combo = 0;
  for (int tile : {2, 4})
    for (Case c :
         {Case{2, 8, 5, 7, 8, 1}, Case{1, 16, 9, 9, 24, 0}, Case{3, 24, 6, 11, 16, 2}, Case{2, 32, 14, 14, 64, 1},
          Case{1, 8, 1, 1, 8, 1}, Case{2, 16, 2, 3, 16, 1}, Case{1, 64, 7, 7, 64, 1},
          // wide (past 64 x 64 channel pairs: sgemm products)
          Case{4, 128, 6, 5, 64, 1}, Case{3, 72, 9, 9, 80, 0}})
      for (int bx : {8, 16})
        for (int by : {8, 16}) {
          ++combo;
          set_winograd_tile(tile);
          const ConvGeometry g = make_conv_geometry(c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1, c.pad, c.pad, 1, 1, 1);
          ASSERT_TRUE(winograd_applies(g)) << combo;
          const ConvPost post = combo % 3 == 0 ? ConvPost::None : combo % 3 == 1 ? ConvPost::ReLU : ConvPost::ReLU6;
          const bool sum = combo % 2 == 0, with_bias = combo % 4 != 3;
          const auto x = randv(size_t(g.N) * g.C * g.H * g.W, 300 + combo);
          auto w = randv(size_t(g.K) * g.C * 9, 400 + combo);
          for (float& v : w) v *= 3.f;  // outputs past 6 too, for ReLU6
          const auto bias = randv(size_t(g.K), 500 + combo),
                     shortcut = randv(size_t(g.N) * g.K * g.P * g.Q, 600 + combo);
          std::vector<float> ref(shortcut.size());
          im2col_conv_forward(g, x.data(), w.data(), with_bias ? bias.data() : nullptr, ref.data());
          for (size_t i = 0; i < ref.size(); ++i)
            if (sum) ref[i] += shortcut[i];
          const float scale = max_abs(ref);  // before the activation: ReLU6 hides it
          for (size_t i = 0; i < ref.size(); ++i) {
            if (post != ConvPost::None) ref[i] = std::max(ref[i], 0.f);
            if (post == ConvPost::ReLU6) ref[i] = std::min(ref[i], 6.f);
          }
          const auto xb = to_blocked(x, g.N, g.C, g.H * g.W, bx, 1e30f);  // padding channels must not leak
          // The shortcut in place (y holds it) or apart, alternately.
          const bool in_place = combo % 4 == 0;
          auto yb =
              to_blocked(in_place ? shortcut : std::vector<float>(shortcut.size(), -7.f), g.N, g.K, g.P * g.Q, by, 0.f);
          const auto addb = to_blocked(shortcut, g.N, g.K, g.P * g.Q, by, 0.f);
          const float* add = !sum ? nullptr : in_place ? yb.data() : addb.data();
          const long calls = winograd_calls();
          winograd_conv_forward_blocked(g, bx, xb.data(), w.data(), with_bias ? bias.data() : nullptr, post, add, by,
                                        yb.data());
          EXPECT_EQ(winograd_calls(), calls + 1);
          const auto y = from_blocked(yb, g.N, g.K, g.P * g.Q, by);
          near(y, ref, "y", combo, tile, scale);

          // dx = the convolution's input gradient for dy = shortcut.
          ASSERT_TRUE(winograd_applies(winograd_backward_data_geometry(g))) << combo;
          std::vector<float> dx_ref(x.size());
          im2col_conv_backward(g, x.data(), w.data(), shortcut.data(), dx_ref.data(), nullptr, nullptr);
          const auto dyb = to_blocked(shortcut, g.N, g.K, g.P * g.Q, by, 1e30f);
          auto dxb = to_blocked(std::vector<float>(x.size(), -9.f), g.N, g.C, g.H * g.W, bx, 0.f);
          winograd_conv_backward_data_blocked(g, by, dyb.data(), w.data(), bx, dxb.data());
          const auto dx = from_blocked(dxb, g.N, g.C, g.H * g.W, bx);
          near(dx, dx_ref, "dx", combo, tile);

          // dw and db, summed over every tile of every image.
          std::vector<float> dw_ref(w.size()), db_ref(size_t(g.K)), dw(w.size(), -5.f), db(size_t(g.K), -5.f);
          im2col_conv_backward(g, x.data(), w.data(), shortcut.data(), nullptr, dw_ref.data(), db_ref.data());
          winograd_conv_backward_weights_blocked(g, bx, xb.data(), by, dyb.data(), dw.data(),
                                                 with_bias ? db.data() : nullptr);
          near(dw, dw_ref, "dw", combo, tile);
          for (int k = 0; k < g.K; ++k)
            ASSERT_NEAR(db[size_t(k)], with_bias ? db_ref[size_t(k)] : -5.f, 1e-4f * (1 + std::abs(db_ref[size_t(k)])))
                << "db, case " << combo << " k=" << k;
        }
  // Plain NCHW outputs (the training path's y and dx, no reorder after):
  // both tiles, a wide shape, edge tiles, post-ops.
  for (int tile : {2, 4})
    for (Case c : {Case{2, 16, 9, 7, 24, 1}, Case{1, 8, 5, 5, 16, 0}, Case{2, 128, 6, 5, 64, 1}}) {
      set_winograd_tile(tile);
      const ConvGeometry g = make_conv_geometry(c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1, c.pad, c.pad, 1, 1, 1);
      for (ConvPost post : {ConvPost::None, ConvPost::ReLU6}) {
        const auto x = randv(size_t(g.N) * g.C * g.H * g.W, 800 + c.C);
        auto w = randv(size_t(g.K) * g.C * 9, 810 + c.K);
        for (float& v : w) v *= 3.f;
        const auto bias = randv(size_t(g.K), 820), dy = randv(size_t(g.N) * g.K * g.P * g.Q, 830);
        std::vector<float> ref(dy.size()), y(dy.size(), -7.f);
        im2col_conv_forward(g, x.data(), w.data(), bias.data(), ref.data());
        const float scale = max_abs(ref);
        for (float& v : ref) {
          if (post != ConvPost::None) v = std::min(std::max(v, 0.f), 6.f);
        }
        winograd_conv_forward_blocked(g, 8, to_blocked(x, g.N, g.C, g.H * g.W, 8, 1e30f).data(), w.data(), bias.data(),
                                      post, nullptr, 1, y.data());
        near(y, ref, "plain y", c.C, tile, scale);
        std::vector<float> dx_ref(x.size()), dx(x.size(), -9.f);
        im2col_conv_backward(g, x.data(), w.data(), dy.data(), dx_ref.data(), nullptr, nullptr);
        winograd_conv_backward_data_blocked(g, 16, to_blocked(dy, g.N, g.K, g.P * g.Q, 16, 1e30f).data(), w.data(), 1,
                                            dx.data());
        near(dx, dx_ref, "plain dx", c.C, tile);
      }
    }
  set_winograd_tile(0);
  // F(4x4) on planes from 7 x 7 unless wide (past 64 x 64 channel pairs),
  // where it needs 16 x 16; the same rule for both vector widths.
  for (int width : {8, 0}) {
    set_winograd_width(width);
    EXPECT_EQ(winograd_tile_for(make_conv_geometry(1, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1)), 4);
    EXPECT_EQ(winograd_tile_for(make_conv_geometry(1, 16, 28, 14, 16, 3, 3, 1, 1, 1, 1)), 4);
    EXPECT_EQ(winograd_tile_for(make_conv_geometry(1, 64, 7, 7, 64, 3, 3, 1, 1, 1, 1)), 4);
    EXPECT_EQ(winograd_tile_for(make_conv_geometry(1, 64, 6, 6, 64, 3, 3, 1, 1, 1, 1)), 2);
    EXPECT_EQ(winograd_tile_for(make_conv_geometry(1, 24, 14, 14, 24, 3, 3, 1, 1, 1, 1)), 4);
    EXPECT_EQ(winograd_tile_for(make_conv_geometry(1, 128, 14, 14, 128, 3, 3, 1, 1, 1, 1)), 2);
    EXPECT_EQ(winograd_tile_for(make_conv_geometry(1, 128, 28, 28, 128, 3, 3, 1, 1, 1, 1)), 4);
  }
  set_winograd_width(0);
  // What it does not compute: stride, dilation, groups, 1x1, 5x5, channels
  // off the vector width, layers whose transformed filters pass 37 MB.
  auto applies = [](int C, int K, int R, int stride, int dil, int groups) {
    return winograd_applies(make_conv_geometry(2, C, 12, 12, K, R, R, stride, stride, 1, 1, dil, dil, groups));
  };
  EXPECT_TRUE(applies(16, 16, 3, 1, 1, 1));
  EXPECT_FALSE(applies(16, 16, 3, 2, 1, 1));
  EXPECT_FALSE(applies(16, 16, 3, 1, 2, 1));
  EXPECT_FALSE(applies(16, 16, 3, 1, 1, 2));
  EXPECT_FALSE(applies(16, 16, 1, 1, 1, 1));
  EXPECT_FALSE(applies(16, 16, 5, 1, 1, 1));
  EXPECT_FALSE(applies(12, 16, 3, 1, 1, 1));
  EXPECT_FALSE(applies(16, 4, 3, 1, 1, 1));
  EXPECT_TRUE(applies(128, 128, 3, 1, 1, 1));   // wide, over 72 tiles
  EXPECT_FALSE(applies(512, 512, 3, 1, 1, 1));  // too few tiles for its filter transform
  EXPECT_TRUE(winograd_applies(make_conv_geometry(128, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1)));
  EXPECT_FALSE(winograd_applies(make_conv_geometry(8, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1)));
  // ResNet-18's 512-channel layers: 256 tiles at batch 16 (F(2x2)) are too
  // few for their memory, 512 at batch 32 are enough.
  EXPECT_FALSE(winograd_applies(make_conv_geometry(16, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1)));
  EXPECT_TRUE(winograd_applies(make_conv_geometry(32, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1)));
  EXPECT_FALSE(winograd_applies(make_conv_geometry(128, 1024, 7, 7, 512, 3, 3, 1, 1, 1, 1)));
  // Filters held for an inference pass: any batch pays for them; what the
  // kernel cannot compute stays refused.
  EXPECT_TRUE(winograd_applies(make_conv_geometry(1, 512, 7, 7, 512, 3, 3, 1, 1, 1, 1), true));
  EXPECT_FALSE(winograd_applies(make_conv_geometry(1, 512, 7, 7, 512, 3, 3, 2, 2, 1, 1), true));
  EXPECT_FALSE(winograd_applies(make_conv_geometry(16, 1024, 7, 7, 512, 3, 3, 1, 1, 1, 1), true));
}

// Puts back the Winograd use and the chain budget a test changed.
struct WinogradAndChainRestore {
  WinogradUse use = cpu_winograd_use();
  ~WinogradAndChainRestore() {
    set_cpu_winograd(use);
    set_conv_chain_bytes(kConvChainBytes);
  }
};

TEST(CpuBackend, ChainSubBatchesShareAWideLayersWinogradFilters) {
  // A wide layer (128 x 128 channels at 7 x 7: F(2x2), 16 tiles per image)
  // pays for its filter transform from 32 tiles. A chain call of 4 images in
  // sub-batches of one transforms its filters once for all four, so every
  // sub-batch runs Winograd: ResNet-18's 256-channel layers ran oneDNN at
  // one image per sub-batch for lack of this.
  const WinogradAndChainRestore restore;
  set_cpu_winograd(WinogradUse::On);
  const int N = 4;
  const ConvGeometry g = make_conv_geometry(N, 128, 7, 7, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  ConvGeometry one = g;
  one.N = 1;
  EXPECT_FALSE(winograd_applies(one)) << "one image alone is too few tiles";
  EXPECT_TRUE(winograd_applies(g));
  const auto x = randv(size_t(N) * g.C * g.H * g.W, 71), w = randv(size_t(g.K) * g.C * 9, 72),
             b = randv(size_t(g.K), 73);
  ConvLink l;
  l.g = g;
  l.w = w.data();
  l.bias = b.data();
  l.post = ConvPost::ReLU;
  std::vector<float> ref(size_t(N) * g.K * g.P * g.Q), y(ref.size(), -1.f);
  im2col_conv_forward(g, x.data(), w.data(), b.data(), ref.data());
  float scale = 0;
  for (float& v : ref) {
    scale = std::max(scale, std::abs(v));
    v = std::max(v, 0.f);
  }
  set_conv_chain_bytes(1);  // one image per sub-batch
  const long calls = winograd_calls();
  ASSERT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), y.data()));
  EXPECT_EQ(winograd_calls() - calls, N);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-5f * (1 + scale)) << i;
}

// A chain whose first link forces one image per sub-batch while its deep
// links read more filter bytes than they write (ResNet-18 at 224x224) runs
// in parts, each with its own sub-batch, the boundaries in the blocked
// layout: the same outputs as link by link, with and without Winograd.
TEST(CpuBackend, ChainsSplitWhereDeepLinksWouldRunOneImageAtATime) {
  const WinogradAndChainRestore restore;
  const int N = 4;
  struct L {
    int C, H, K, stride;
    bool pool;
    int residual_from;
  };
  // 16 -> 16 at 24x24 pooled to 12x12 (46 KB per image, 9 KB of filters),
  // then 64 channels at 6x6 (9 KB per image, 37-147 KB of filters each), the
  // last an identity block's.
  const L ls[] = {
      {16, 24, 16, 1, true, -1}, {16, 12, 64, 2, false, -1}, {64, 6, 64, 1, false, -1}, {64, 6, 64, 1, false, 2}};
  std::vector<ConvLink> cl;
  std::vector<std::vector<float>> w, b;
  for (int i = 0; i < 4; ++i) {
    const L& l = ls[i];
    ConvLink c;
    c.g = make_conv_geometry(N, l.C, l.H, l.H, l.K, 3, 3, l.stride, l.stride, 1, 1);
    if (l.pool) c.pool = make_pool_geometry(N, l.K, c.g.P, c.g.Q, 2, 2, 2, 2, 0, 0);
    c.post = ConvPost::ReLU;
    c.residual_from = l.residual_from;
    w.push_back(randv(size_t(l.K) * l.C * 9, 200 + i));
    b.push_back(randv(size_t(l.K), 210 + i));
    cl.push_back(c);
  }
  for (int i = 0; i < 4; ++i) {
    cl[size_t(i)].w = w[size_t(i)].data();
    cl[size_t(i)].bias = b[size_t(i)].data();
  }
  const auto x = randv(size_t(N) * 16 * 24 * 24, 220);
  std::vector<float> ref(cl.back().out_floats(), -2.f);
  conv_chain_link_by_link(B(), 4, cl.data(), x.data(), ref.data());
  float scale = 0;
  for (float v : ref) scale = std::max(scale, std::abs(v));
  EXPECT_EQ(conv_chain_split(4, cl.data()), 0) << "the whole batch in one sub-batch: nothing to gain";
  size_t per_image = 0;  // every link's output of one image, as the sub-batching counts
  for (const ConvLink& l : cl)
    per_image +=
        sizeof(float) * (size_t(l.g.K) * l.g.P * l.g.Q + (l.pooled() ? size_t(l.g.K) * l.pool.P * l.pool.Q : 0));
  set_conv_chain_bytes(per_image);  // the whole chain one image at a time, the 64-channel links two or more
  EXPECT_EQ(conv_chain_split(4, cl.data()), 1);
  std::vector<ConvLink> rest(cl.begin() + 1, cl.end());
  rest.back().residual_from = 1;  // as the first part's split leaves it
  EXPECT_EQ(conv_chain_split(3, rest.data()), 1) << "before the block, whose shortcut starts at the boundary";
  std::vector<ConvLink> crossed = cl;
  crossed.back().residual_from = 0;  // a shortcut across every boundary
  EXPECT_EQ(conv_chain_split(4, crossed.data()), 0);
  for (bool winograd : {true, false}) {
    set_cpu_winograd(winograd);
    std::vector<float> y(ref.size(), -1.f);
    ASSERT_TRUE(dnnl_conv_chain_forward(4, cl.data(), x.data(), y.data()));
    for (size_t i = 0; i < y.size(); ++i)
      ASSERT_NEAR(y[i], ref[i], 1e-5f * (1 + scale)) << "Winograd " << winograd << " " << i;
  }
}

TEST(CpuBackend, HeldPassesRunWideLayersOnWinogradAtAnyBatch) {
  // One image of a wide layer (128 x 128 at 7 x 7: 16 tiles) is too few
  // tiles to pay for transforming its filters per call, so a plain chain
  // runs oneDNN; in a held pass the filters are transformed once for the
  // pass, so it runs ours, with the same output.
  const test::WinogradRestore restore_winograd;
  set_cpu_winograd(WinogradUse::On);
  const ConvGeometry g = make_conv_geometry(1, 128, 7, 7, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1);
  const auto x = randv(size_t(g.C) * g.H * g.W, 74), w = randv(size_t(g.K) * g.C * 9, 75), b = randv(size_t(g.K), 76);
  ConvLink l;
  l.g = g;
  l.w = w.data();
  l.bias = b.data();
  std::vector<float> ref(size_t(g.K) * g.P * g.Q), y(ref.size(), -1.f);
  im2col_conv_forward(g, x.data(), w.data(), b.data(), ref.data());
  float scale = 0;
  for (float v : ref) scale = std::max(scale, std::abs(v));
  long calls = winograd_calls();
  ASSERT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), y.data()));
  EXPECT_EQ(winograd_calls(), calls) << "no hold: oneDNN";
  for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-5f * (1 + scale)) << i;
  {
    const WeightsHeld pass;
    for (int call = 0; call < 2; ++call) {
      std::fill(y.begin(), y.end(), -1.f);
      calls = winograd_calls();
      ASSERT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), y.data()));
      EXPECT_EQ(winograd_calls(), calls + 1) << "held: ours, call " << call;
      for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-5f * (1 + scale)) << i;
    }
  }
}

TEST(CpuBackend, WinogradPoolsInItsOutputTransformAsConvThenMaxPool) {
  // A chain link of our F(4x4) Winograd followed by 2x2 stride-2 max
  // pooling pools in the output transform (the convolution's output is
  // never written): the same values as the link without pooling followed
  // by the backend's max pooling, on even and odd planes (floor mode drops
  // the last row and column), every post-op, a NaN input included.
  const test::WinogradRestore restore_winograd;
  set_cpu_winograd(WinogradUse::On);
  struct Case {
    int N, C, H, W, K;
    ConvPost post;
  };
  // Every input has 16 channels or more: with AVX-512 oneDNN takes an
  // 8-channel input in plain NCHW, where ours does not run.
  for (Case c : {Case{3, 16, 14, 14, 32, ConvPost::ReLU}, Case{2, 16, 13, 11, 16, ConvPost::None},
                 Case{2, 32, 9, 9, 8, ConvPost::ReLU6}}) {
    const ConvGeometry g = make_conv_geometry(c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1, 1, 1);
    ASSERT_EQ(winograd_tile_for(g), 4);
    auto x = randv(size_t(c.N) * c.C * c.H * c.W, 81 + c.H);
    x[5] = std::nanf("");  // spreads to the outputs it reaches: pooling keeps them NaN
    const auto w = randv(size_t(c.K) * c.C * 9, 82), b = randv(size_t(c.K), 83);
    ConvLink l;
    l.g = g;
    l.w = w.data();
    l.bias = b.data();
    l.post = c.post;
    std::vector<float> conv(size_t(c.N) * c.K * g.P * g.Q);
    const long calls = winograd_calls();
    ASSERT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), conv.data()));
    l.pool = make_pool_geometry(c.N, c.K, g.P, g.Q, 2, 2, 2, 2, 0, 0);
    ASSERT_TRUE(winograd_forward_pools(g, l.pool, 8));
    std::vector<float> want(size_t(c.N) * c.K * l.pool.P * l.pool.Q), got(want.size(), -1.f);
    B().maxpool2d_forward(l.pool, conv.data(), want.data());
    ASSERT_TRUE(dnnl_conv_chain_forward(1, &l, x.data(), got.data()));
    EXPECT_EQ(winograd_calls() - calls, 2) << "both ran ours";
    int nans = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      nans += std::isnan(want[i]);
      ASSERT_TRUE((std::isnan(got[i]) && std::isnan(want[i])) || got[i] == want[i])
          << "N=" << c.N << " " << c.H << "x" << c.W << " at " << i << ": " << got[i] << " vs " << want[i];
    }
    EXPECT_GT(nans, 0) << "the NaN must reach the pooled outputs";
  }
  // What it does not take: 3x3 pooling, padding, F(2x2) tiles.
  const ConvGeometry g = make_conv_geometry(1, 16, 14, 14, 16, 3, 3, 1, 1, 1, 1);
  EXPECT_FALSE(winograd_forward_pools(g, make_pool_geometry(1, 16, 14, 14, 3, 3, 2, 2, 0, 0), 8));
  EXPECT_FALSE(winograd_forward_pools(g, make_pool_geometry(1, 16, 14, 14, 2, 2, 2, 2, 1, 1), 8));
  EXPECT_FALSE(winograd_forward_pools(g, make_pool_geometry(1, 16, 14, 14, 2, 2, 2, 2, 0, 0), 1));
  set_winograd_tile(2);
  EXPECT_FALSE(winograd_forward_pools(g, make_pool_geometry(1, 16, 14, 14, 2, 2, 2, 2, 0, 0), 8));
  set_winograd_tile(0);
}

TEST(CpuBackend, WinogradOnSixteenFloatVectorsEqualsEightAndIm2col) {
  // The forward on 16-float vectors (nChw16c x, C and K multiples of 16)
  // against im2col and against the 8-float kernel: chunks that end inside a
  // 12-row register block, K = 48 (a 32-wide product then a 16-wide one),
  // 7 x 7 and odd planes, nChw16c and plain NCHW outputs, a shortcut, every
  // post-op, both tiles.
  struct Case {
    int N, C, H, W, K, pad;
  };
  int combo = 0;
  for (int tile : {2, 4})
    for (Case c : {Case{3, 48, 13, 10, 48, 1}, Case{5, 16, 7, 7, 32, 1}, Case{1, 32, 9, 11, 16, 0},
                   Case{7, 64, 7, 7, 64, 1}, Case{2, 16, 28, 28, 16, 1}})
      for (int by : {16, 1}) {
        ++combo;
        set_winograd_tile(tile);
        const ConvGeometry g = make_conv_geometry(c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1, c.pad, c.pad, 1, 1, 1);
        const ConvPost post = combo % 3 == 0 ? ConvPost::None : combo % 3 == 1 ? ConvPost::ReLU : ConvPost::ReLU6;
        const bool sum = by == 16 && combo % 2 == 0;  // plain outputs take no shortcut
        const auto x = randv(size_t(g.N) * g.C * g.H * g.W, 900 + combo);
        auto w = randv(size_t(g.K) * g.C * 9, 910 + combo);
        for (float& v : w) v *= 3.f;
        const auto bias = randv(size_t(g.K), 920 + combo), shortcut = randv(size_t(g.N) * g.K * g.P * g.Q, 930 + combo);
        std::vector<float> ref(shortcut.size());
        im2col_conv_forward(g, x.data(), w.data(), bias.data(), ref.data());
        if (sum)
          for (size_t i = 0; i < ref.size(); ++i) ref[i] += shortcut[i];
        float scale = 0;
        for (float v : ref) scale = std::max(scale, std::abs(v));
        for (float& v : ref) {
          if (post != ConvPost::None) v = std::max(v, 0.f);
          if (post == ConvPost::ReLU6) v = std::min(v, 6.f);
        }
        const auto xb = to_blocked(x, g.N, g.C, g.H * g.W, 16, 1e30f);
        const auto addb = to_blocked(shortcut, g.N, g.K, g.P * g.Q, by, 0.f);
        std::vector<float> y[2];
        for (int width : {8, 16}) {
          set_winograd_width(width);
          auto yb = to_blocked(std::vector<float>(shortcut.size(), -7.f), g.N, g.K, g.P * g.Q, by, 0.f);
          const long calls16 = winograd_calls16();
          winograd_conv_forward_blocked(g, 16, xb.data(), w.data(), bias.data(), post, sum ? addb.data() : nullptr, by,
                                        yb.data());
#if defined(__AVX512F__)
          EXPECT_EQ(winograd_calls16(), calls16 + (width == 16)) << combo;
#else
          EXPECT_EQ(winograd_calls16(), calls16) << "no 16-float kernel without AVX-512";
#endif
          y[width / 16] = from_blocked(yb, g.N, g.K, g.P * g.Q, by);
          for (size_t i = 0; i < ref.size(); ++i)
            ASSERT_NEAR(y[width / 16][i], ref[i], (tile == 4 ? 3e-5f : 1e-5f) * (1 + scale))
                << "width " << width << ", tile " << tile << ", case " << combo << " i=" << i;
        }
        // The same transforms and sums in the same order: the widths agree
        // to the last bit but for FMA contraction in the transforms.
        for (size_t i = 0; i < ref.size(); ++i)
          ASSERT_NEAR(y[0][i], y[1][i], 2e-6f * (1 + scale)) << "tile " << tile << ", case " << combo << " i=" << i;
      }
  set_winograd_width(0);
  set_winograd_tile(0);

  // Which forwards run it under each use.
  const test::WinogradRestore restore_winograd;
  auto suits = [](int C, int H, int K, int bx, int by) {
    return winograd_forward_suits(make_conv_geometry(32, C, H, H, K, 3, 3, 1, 1, 1, 1), bx, by);
  };
  set_cpu_winograd(WinogradUse::Off);
  EXPECT_FALSE(suits(16, 28, 16, 16, 16));
  set_cpu_winograd(WinogradUse::On);
  EXPECT_TRUE(suits(128, 28, 128, 8, 8));
  EXPECT_FALSE(suits(16, 28, 16, 0, 16)) << "x not channel-blocked";
  set_cpu_winograd(WinogradUse::Rule);
#if defined(__AVX512F__)
  EXPECT_TRUE(suits(16, 28, 16, 16, 16));
  EXPECT_TRUE(suits(32, 14, 64, 16, 16));
  EXPECT_TRUE(suits(64, 7, 64, 16, 16));
#endif
  EXPECT_FALSE(suits(64, 6, 64, 16, 16)) << "planes under 7 x 7";
  EXPECT_FALSE(suits(128, 28, 128, 16, 16)) << "wide layers stay with oneDNN";
  EXPECT_FALSE(suits(16, 28, 16, 8, 16));
  EXPECT_FALSE(suits(16, 28, 16, 16, 1));
  set_winograd_width(8);
  EXPECT_FALSE(suits(16, 28, 16, 16, 16)) << "the 8-float kernel lost to oneDNN everywhere on AVX-512";
  set_winograd_width(0);
}

TEST(CpuBackend, SumRowsIsTheColumnSumInDouble) {
  // Bias gradients: column sums over the batch, plus beta times what out
  // held; widths around the 16-column blocks, batches past the parallel bound.
  for (int cols : {1, 15, 16, 37, 512})
    for (int rows : {1, 3, 300})
      for (float beta : {0.f, 0.5f}) {
        const auto x = randv(size_t(rows) * cols, 700 + cols + rows);
        std::vector<float> out(size_t(cols), 2.f);
        B().sum_rows(x.data(), out.data(), rows, cols, beta);
        for (int c = 0; c < cols; ++c) {
          double s = 0;
          for (int r = 0; r < rows; ++r) s += x[size_t(r) * cols + c];
          ASSERT_EQ(out[size_t(c)], float(s) + beta * 2.f) << "cols " << cols << " rows " << rows << " c " << c;
        }
      }
}
