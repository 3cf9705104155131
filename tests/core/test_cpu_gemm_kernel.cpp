// Our float32 GEMM kernel (cpu_gemm_kernel.cpp) against a double-precision
// product, over the shapes its tiles and blocks have edges at, and the
// backend's Linear forward and gemm through it against oneDNN's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_gemm_kernel.h"
#include "tests/core/cpu_test_util.h"

using namespace perceptra;

namespace {

using test::randv;

// Restores the process's setting when a test ends, passing or not.
struct OwnGemmRestore {
  OwnGemmUse was = cpu_own_gemm_use();
  ~OwnGemmRestore() { set_cpu_own_gemm(was); }
};

float activate(double v, ConvPost post) {
  if (post != ConvPost::None && v < 0) v = 0;
  if (post == ConvPost::ReLU6 && v > 6) v = 6;
  return float(v);
}

// alpha op(A) op(B) + beta C (+ bias, post), in double, row-major.
std::vector<float> reference(bool ta, bool tb, int M, int N, int K, float alpha, const std::vector<float>& A, int lda,
                             const std::vector<float>& B, int ldb, float beta, const std::vector<float>& C, int ldc,
                             const float* bias, ConvPost post) {
  std::vector<float> out = C;
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int k = 0; k < K; ++k)
        s += double(ta ? A[size_t(k) * lda + i] : A[size_t(i) * lda + k]) *
             double(tb ? B[size_t(j) * ldb + k] : B[size_t(k) * ldb + j]);
      double v = alpha * s + (beta == 0.f ? 0.0 : double(beta) * C[size_t(i) * ldc + j]);
      if (bias) v += bias[j];
      out[size_t(i) * ldc + j] = activate(v, post);
    }
  return out;
}

struct Case {
  bool ta, tb;
  int M, N, K;
  float alpha, beta;
  bool bias;
  ConvPost post;
};

std::string name(const Case& c) {
  return std::string(c.ta ? "T" : "N") + (c.tb ? "T" : "N") + " M=" + std::to_string(c.M) +
         " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) + " alpha=" + std::to_string(c.alpha) +
         " beta=" + std::to_string(c.beta) + (c.bias ? " bias" : "") + " post=" + std::to_string(int(c.post));
}

// Runs c through own_sgemm (and own_sgemm_packed when op(A) is all that is
// transposed or not) with leading dimensions wider than the matrices, and
// checks every element of C, the padding columns included (untouched).
void check(const Case& c) {
  const int lda = (c.ta ? c.M : c.K) + 3, ldb = (c.tb ? c.K : c.N) + 2, ldc = c.N + 5;
  const auto A = randv(size_t(c.ta ? c.K : c.M) * lda, 1 + c.M);
  const auto B = randv(size_t(c.tb ? c.N : c.K) * ldb, 2 + c.N);
  const auto bias = randv(size_t(c.N), 3);
  auto C0 = randv(size_t(c.M) * ldc, 4 + c.K);
  if (c.beta == 0.f)  // beta 0 must not read C: NaN there would leak
    for (int i = 0; i < c.M; ++i)
      for (int j = 0; j < c.N; ++j) C0[size_t(i) * ldc + j] = std::numeric_limits<float>::quiet_NaN();
  const float* b = c.bias ? bias.data() : nullptr;
  const auto want = reference(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A, lda, B, ldb, c.beta, C0, ldc, b, c.post);
  const float tol = 2e-6f * float(std::max(c.K, 1));
  auto got = C0;
  own_sgemm(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, got.data(), ldc, b, c.post);
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << name(c) << " " << i;
  std::vector<float> panels(own_gemm_panel_floats(c.K, c.N), -1.f);
  own_gemm_pack(c.tb, c.K, c.N, B.data(), ldb, panels.data());
  auto packed = C0;
  own_sgemm_packed(c.ta, c.M, c.N, c.K, c.alpha, A.data(), lda, panels.data(), c.beta, packed.data(), ldc, b, c.post);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(packed[i], got[i]) << name(c) << " packed " << i;
}

}  // namespace

// Rows 1-13 (6-row tiles and every tail), columns around the 16-column
// panels, K around the 256 block (one, two and three blocks), every
// transpose, alpha and beta, bias and both activations; the larger ones go
// parallel, split by panels or (with 3 panels or fewer) by rows.
TEST(OwnGemm, EqualsADoubleProductAtEveryTileAndBlockEdge) {
  for (int M : {1, 5, 6, 7, 13})
    for (int N : {1, 15, 16, 17, 40})
      for (int K : {1, 7, 256, 300}) check({false, false, M, N, K, 1.f, 0.f, false, ConvPost::None});
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      check({ta, tb, 37, 50, 513, 0.5f, 0.f, true, ConvPost::ReLU});
      check({ta, tb, 128, 33, 200, 1.f, 1.f, false, ConvPost::None});    // parallel, split by rows
      check({ta, tb, 64, 200, 130, -2.f, 0.25f, true, ConvPost::None});  // parallel, split by panels
      check({ta, tb, 19, 10, 64, 3.f, 0.f, true, ConvPost::ReLU6});      // ReLU6 clips at 6
    }
}

TEST(OwnGemm, NoProductsLeaveBetaCThenBiasAndPost) {
  check({false, true, 4, 20, 0, 1.f, 0.f, true, ConvPost::ReLU});
  check({false, false, 3, 5, 0, 1.f, 2.f, false, ConvPost::None});
}

TEST(OwnGemm, ActivationsLetNanThrough) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> A{nan, 1.f}, B{1.f, 1.f, 1.f, 1.f}, C(4, 0.f);  // row 0 of A is NaN
  for (ConvPost post : {ConvPost::ReLU, ConvPost::ReLU6}) {
    own_sgemm(false, false, 2, 2, 1, 1.f, A.data(), 1, B.data(), 2, 0.f, C.data(), 2, nullptr, post);
    EXPECT_TRUE(std::isnan(C[0]) && std::isnan(C[1]));
    EXPECT_EQ(C[2], 1.f);
  }
}

// The rule: ours for held Linear forwards without AVX-512, never for the
// gradients; On and Off override it.
TEST(OwnGemm, RuleTakesHeldForwardsOnCpusWithoutAvx512) {
  OwnGemmRestore restore;
  set_cpu_own_gemm(OwnGemmUse::Rule);
  EXPECT_FALSE(cpu_own_gemm(false));
  const bool avx512 = cpu_isa_has(dnnl_cpu_isa_avx512_core);
  EXPECT_EQ(cpu_own_gemm(true), !avx512);
  set_cpu_own_gemm(OwnGemmUse::On);
  EXPECT_TRUE(cpu_own_gemm(false) && cpu_own_gemm(true));
  set_cpu_own_gemm(OwnGemmUse::Off);
  EXPECT_FALSE(cpu_own_gemm(false) || cpu_own_gemm(true));
}

// Through the backend: Linear forwards (held and not, every post-op) and
// both gradients' gemm calls on our kernel equal oneDNN's within float
// rounding; held weights are packed once per pass.
TEST(OwnGemm, BackendLinearOnOursEqualsOneDnn) {
  OwnGemmRestore restore;
  CpuBackend& be = cpu_backend();
  const int N = 30, in = 70, out = 45;
  const auto x = randv(size_t(N) * in, 5), w = randv(size_t(out) * in, 6), b = randv(size_t(out), 7),
             dy = randv(size_t(N) * out, 8);
  for (ConvPost post : {ConvPost::None, ConvPost::ReLU, ConvPost::ReLU6})
    for (bool held : {false, true}) {
      std::vector<float> y[2];
      for (int own : {0, 1}) {
        set_cpu_own_gemm(own ? OwnGemmUse::On : OwnGemmUse::Off);
        WeightsHeld* hold = held ? new WeightsHeld : nullptr;
        const size_t copies = cpu_held_weight_copies();
        y[own].assign(size_t(N) * out, -9.f);
        be.linear_forward(N, in, out, x.data(), w.data(), b.data(), post, y[own].data());
        be.linear_forward(N, in, out, x.data(), w.data(), b.data(), post, y[own].data());  // packed already
        if (held) EXPECT_EQ(cpu_held_weight_copies(), copies + 1) << "one packed copy per held pass";
        delete hold;
      }
      for (size_t i = 0; i < y[0].size(); ++i)
        ASSERT_NEAR(y[1][i], y[0][i], 1e-5f * (1 + std::abs(y[0][i]))) << int(post) << " held " << held << " " << i;
    }
  std::vector<float> dx[2], dw[2];
  for (int own : {0, 1}) {
    set_cpu_own_gemm(own ? OwnGemmUse::On : OwnGemmUse::Off);
    dx[own].assign(size_t(N) * in, 0.f);
    dw[own].assign(size_t(out) * in, 0.f);
    be.gemm(false, false, N, in, out, 1.f, dy.data(), out, w.data(), in, 0.f, dx[own].data(), in);
    be.gemm(true, false, out, in, N, 1.f, dy.data(), out, x.data(), in, 0.f, dw[own].data(), in);
  }
  for (size_t i = 0; i < dx[0].size(); ++i) ASSERT_NEAR(dx[1][i], dx[0][i], 1e-5f * (1 + std::abs(dx[0][i])));
  for (size_t i = 0; i < dw[0].size(); ++i) ASSERT_NEAR(dw[1][i], dw[0][i], 1e-5f * (1 + std::abs(dw[0][i])));
}
