// Precision::BF16 on the CPU backend. Its gemm and convolutions must equal
// the float32 ones computed on inputs rounded to bfloat16 (to nearest even,
// as oneDNN's reorders round), up to float32 accumulation order: a tight
// check that the inputs, and only the inputs, lost bits. Skipped, with the
// reason printed, on CPUs without AVX-512 BF16.
#include <gtest/gtest.h>

#include <dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_dnnl.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"
#include "tests/core/cpu_test_util.h"

using namespace perceptra;

namespace {

using test::randv;

float to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even (finite inputs)
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}
std::vector<float> rounded(std::vector<float> v) {
  for (float& x : v) x = to_bf16(x);
  return v;
}

// Largest |a - r| / (1 + |r|).
double max_rel(const std::vector<float>& a, const std::vector<float>& r) {
  EXPECT_EQ(a.size(), r.size());
  double m = 0;
  for (size_t i = 0; i < a.size() && i < r.size(); ++i)
    m = std::max(m, std::abs(double(a[i]) - r[i]) / (1 + std::abs(double(r[i]))));
  return m;
}

// BF16 for one scope; F32 (the process default) after.
struct AtBf16 {
  AtBf16() { cpu_backend().set_precision(Precision::BF16); }
  ~AtBf16() { cpu_backend().set_precision(Precision::F32); }
};

std::string unavailable() { return cpu_backend().precision_unavailable(Precision::BF16); }

}  // namespace

TEST(CpuBf16, PrecisionNamesAndTheCapabilityQuestion) {
  EXPECT_EQ(parse_precision("f32", "x"), Precision::F32);
  EXPECT_EQ(parse_precision("bf16", "x"), Precision::BF16);
  EXPECT_STREQ(precision_name(Precision::BF16), "bf16");
  try {
    parse_precision("half", "--precision");
    ADD_FAILURE() << "half accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--precision"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'half'"), std::string::npos) << e.what();
  }
  CpuBackend& be = cpu_backend();
  EXPECT_EQ(be.precision(), Precision::F32);
  EXPECT_EQ(be.precision_unavailable(Precision::F32), "");
  const std::string why = unavailable();
  if (why.empty()) {
    be.set_precision(Precision::BF16);
    EXPECT_EQ(be.precision(), Precision::BF16);
    be.set_precision(Precision::F32);
  } else {
    std::printf("bf16 unavailable here: %s\n", why.c_str());
    EXPECT_NE(why.find("AVX-512 BF16"), std::string::npos) << why;
    EXPECT_THROW(be.set_precision(Precision::BF16), Error);
  }
  EXPECT_EQ(be.precision(), Precision::F32);
}

TEST(CpuBf16, GemmEqualsF32GemmOnRoundedInputs) {
  if (!unavailable().empty()) GTEST_SKIP() << unavailable();
  const int M = 37, N = 29, K = 300;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (float alpha : {1.f, 0.5f})
        for (float beta : {0.f, 1.f, 0.25f}) {
          SCOPED_TRACE(std::to_string(ta) + std::to_string(tb) + " alpha " + std::to_string(alpha) + " beta " +
                       std::to_string(beta));
          const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;  // padded rows
          auto A = randv(size_t(ta ? K : M) * lda, 1), Bm = randv(size_t(tb ? N : K) * ldb, 2);
          auto C0 = randv(size_t(M) * ldc, 3);
          std::vector<float> got = C0, ref = C0, exact = C0;
          {
            AtBf16 bf16;
            cpu_backend().gemm(ta, tb, M, N, K, alpha, A.data(), lda, Bm.data(), ldb, beta, got.data(), ldc);
          }
          const auto Ar = rounded(A), Br = rounded(Bm);
          cpu_sgemm(ta, tb, M, N, K, alpha, Ar.data(), lda, Br.data(), ldb, beta, ref.data(), ldc);
          cpu_sgemm(ta, tb, M, N, K, alpha, A.data(), lda, Bm.data(), ldb, beta, exact.data(), ldc);
          for (int i = 0; i < M; ++i)  // the padding of C untouched
            for (int j = N; j < ldc; ++j) ASSERT_EQ(got[size_t(i) * ldc + j], C0[size_t(i) * ldc + j]);
          EXPECT_LT(max_rel(got, ref), 2e-5);
          EXPECT_GT(max_rel(got, exact), 1e-4) << "the inputs were not rounded: not the bf16 path";
        }
  // K = 0: C = beta * C, as sgemm.
  std::vector<float> c = {1.f, 2.f}, a(1), b(1);
  AtBf16 bf16;
  cpu_backend().gemm(false, false, 1, 2, 0, 1.f, a.data(), 1, b.data(), 2, 0.5f, c.data(), 2);
  EXPECT_EQ(c, (std::vector<float>{0.5f, 1.f}));
}

TEST(CpuBf16, ConvolutionsEqualF32OnRoundedInputs) {
  if (!unavailable().empty()) GTEST_SKIP() << unavailable();
  struct Case {
    int N, C, H, W, K, R, S, stride, pad, groups = 1;
  };
  set_cpu_conv_impl(CpuConvImpl::OneDnn);
  for (Case c : {Case{4, 16, 14, 14, 32, 3, 3, 1, 1},  // Winograd's shape at f32
                 Case{3, 16, 14, 14, 32, 3, 3, 2, 1}, Case{2, 16, 7, 7, 24, 1, 1, 2, 0},
                 Case{2, 3, 9, 9, 8, 5, 5, 1, 2},           // an RGB stem
                 Case{2, 8, 9, 9, 12, 3, 3, 1, 1, 4},       // grouped
                 Case{2, 24, 15, 15, 24, 3, 3, 2, 1, 24}})  // depthwise
  {
    SCOPED_TRACE("C " + std::to_string(c.C) + " K " + std::to_string(c.K) + " groups " + std::to_string(c.groups));
    auto g = make_conv_geometry(c.N, c.C, c.H, c.W, c.K, c.R, c.S, c.stride, c.stride, c.pad, c.pad, 1, 1, c.groups);
    auto x = randv(size_t(c.N) * c.C * c.H * c.W, 41), w = randv(size_t(c.K) * (c.C / c.groups) * c.R * c.S, 42),
         b = randv(c.K, 43), dy = randv(size_t(c.N) * c.K * g.P * g.Q, 44);
    std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(c.K), yr = y, dxr = dx, dwr = dw, dbr = db;
    {
      AtBf16 bf16;
      cpu_backend().conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
      cpu_backend().conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
    }
    const auto xr = rounded(x), wr = rounded(w), dyr = rounded(dy);
    im2col_conv_forward(g, xr.data(), wr.data(), b.data(), yr.data());
    im2col_conv_backward(g, xr.data(), wr.data(), dyr.data(), dxr.data(), dwr.data(), dbr.data());
    EXPECT_LT(max_rel(y, yr), 5e-5);
    EXPECT_LT(max_rel(dx, dxr), 5e-5);
    EXPECT_LT(max_rel(dw, dwr), 5e-5);
    EXPECT_LT(max_rel(db, dbr), 5e-5);
    std::vector<float> yexact(y.size());
    im2col_conv_forward(g, x.data(), w.data(), b.data(), yexact.data());
    EXPECT_GT(max_rel(y, yexact), 1e-4) << "the inputs were not rounded: not the bf16 path";
  }
  set_cpu_conv_impl(CpuConvImpl::OneDnn);
}

// Linear layers at bf16 run one matmul (bias and activation inside) on
// rounded x and W, W rounded once per held pass: float32 on the rounded
// inputs, then the bias and the activation.
TEST(CpuBf16, LinearEqualsF32OnRoundedInputs) {
  if (!unavailable().empty()) GTEST_SKIP() << unavailable();
  const int N = 33, in = 300, out = 70;
  const auto x = randv(size_t(N) * in, 11), w = randv(size_t(out) * in, 12), b = randv(out, 13);
  const auto xr = rounded(x), wr = rounded(w);
  for (bool held : {false, true})
    for (bool bias : {false, true})
      for (ConvPost post : {ConvPost::None, ConvPost::ReLU, ConvPost::ReLU6}) {
        SCOPED_TRACE(std::string(held ? "held" : "not held") + (bias ? " bias" : "") + " post " +
                     std::to_string(int(post)));
        std::vector<float> ref(size_t(N) * out), exact(ref.size());
        cpu_sgemm(false, true, N, out, in, 1.f, xr.data(), in, wr.data(), in, 0.f, ref.data(), out);
        cpu_sgemm(false, true, N, out, in, 1.f, x.data(), in, w.data(), in, 0.f, exact.data(), out);
        for (auto* r : {&ref, &exact})
          for (size_t k = 0; k < r->size(); ++k) {
            float& v = (*r)[k];
            if (bias) v += b[k % out];
            if (post != ConvPost::None) v = std::max(v, 0.f);
            if (post == ConvPost::ReLU6) v = std::min(v, 6.f);
          }
        AtBf16 bf16;
        std::optional<WeightsHeld> hold;
        if (held) hold.emplace();
        for (int call = 0; call < 2; ++call) {  // the second reads the held copy
          std::vector<float> y(ref.size(), -1.f);
          cpu_backend().linear_forward(N, in, out, x.data(), w.data(), bias ? b.data() : nullptr, post, y.data());
          EXPECT_LT(max_rel(y, ref), 2e-5);
          EXPECT_GT(max_rel(y, exact), 1e-4) << "the inputs were not rounded: not the bf16 path";
          EXPECT_EQ(cpu_held_weight_copies(), held ? 1u : 0u);
        }
      }
}

// An inference chain at bf16 rounds each link's input as its links one by
// one do (both run at the process's precision).
TEST(CpuBf16, ChainsEqualTheirLinksOneByOne) {
  if (!unavailable().empty()) GTEST_SKIP() << unavailable();
  const int N = 3;
  ConvLink l[2];
  l[0].g = make_conv_geometry(N, 8, 12, 12, 16, 3, 3, 1, 1, 1, 1);
  l[0].post = ConvPost::ReLU;
  l[0].pool = make_pool_geometry(N, 16, 12, 12, 2, 2, 2, 2, 0, 0);
  l[1].g = make_conv_geometry(N, 16, 6, 6, 16, 3, 3, 1, 1, 1, 1);
  auto w0 = randv(16 * 8 * 9, 5), b0 = randv(16, 6), w1 = randv(16 * 16 * 9, 7), b1 = randv(16, 8);
  l[0].w = w0.data();
  l[0].bias = b0.data();
  l[1].w = w1.data();
  l[1].bias = b1.data();
  auto x = randv(size_t(N) * 8 * 12 * 12, 9);
  std::vector<float> chain(l[1].out_floats()), links(chain.size()), exact(chain.size());
  {
    AtBf16 bf16;
    cpu_backend().conv2d_chain_forward(2, l, x.data(), chain.data());
    conv_chain_link_by_link(cpu_backend(), 2, l, x.data(), links.data());
  }
  conv_chain_link_by_link(cpu_backend(), 2, l, x.data(), exact.data());
  EXPECT_LT(max_rel(chain, links), 5e-5);
  EXPECT_GT(max_rel(chain, exact), 1e-4) << "not the bf16 path";
}

// Under BF16 a chain's links that only feed later links write bfloat16: the
// chain equals float32 arithmetic (im2col) on bfloat16-rounded weights, link
// inputs and projected shortcuts, each shortcut being the rounded input its
// link read; the last link writes float32. Both chains have a link other
// than the last that adds a shortcut (projected in the first, in the
// shortcut's own buffer in the second).
TEST(CpuBf16, ResidualChainsRoundWhatTheirLinksPassOn) {
  if (!unavailable().empty()) GTEST_SKIP() << unavailable();
  using test::ChainLinkSpec;
  const ConvPost relu = ConvPost::ReLU;
  const std::vector<std::vector<ChainLinkSpec>> chains = {{{16, 1, -1, false, relu},
                                                           {32, 2, -1, false, relu},
                                                           {32, 1, 1, true, relu},
                                                           {32, 1, -1, false, relu},
                                                           {32, 1, 3, false, relu}},
                                                          {{16, 1, -1, false, relu},
                                                           {16, 1, -1, false, relu},
                                                           {16, 1, 1, false, relu},
                                                           {16, 1, 1, false, relu},
                                                           {16, 1, -1, false, relu}}};
  set_cpu_conv_impl(CpuConvImpl::OneDnn);
  for (size_t ci = 0; ci < chains.size(); ++ci) {
    SCOPED_TRACE("chain " + std::to_string(ci));
    const int N = 3, n = int(chains[ci].size());
    const test::TestChain tc(chains[ci], N, 3, 11, 9, 200);
    const std::vector<ConvLink>& cl = tc.links;
    const auto x = randv(size_t(N) * 3 * 11 * 9, 240);
    std::vector<std::vector<float>> ins{rounded(x)};
    for (int i = 0; i < n; ++i) {
      const ConvLink& l = cl[size_t(i)];
      std::vector<float> out(size_t(N) * l.g.K * l.g.P * l.g.Q);
      im2col_conv_forward(l.g, ins[size_t(i)].data(), rounded(tc.w[size_t(i)]).data(), l.bias, out.data());
      if (l.residual()) {
        std::vector<float> s = ins[size_t(l.residual_from)];
        if (l.proj_w) {
          std::vector<float> p(out.size());
          im2col_conv_forward(l.proj_g, s.data(), rounded(tc.pw[size_t(i)]).data(), l.proj_bias, p.data());
          s = i < n - 1 ? rounded(p) : p;
        }
        for (size_t k = 0; k < out.size(); ++k) out[k] += s[k];
      }
      for (float& v : out) v = std::max(v, 0.f);
      ins.push_back(i < n - 1 ? rounded(out) : out);
    }
    const std::vector<float>& ref = ins.back();
    std::vector<float> chain(ref.size(), -1.f), exact(ref.size());
    {
      AtBf16 bf16;
      cpu_backend().conv2d_chain_forward(n, cl.data(), x.data(), chain.data());
    }
    cpu_backend().conv2d_chain_forward(n, cl.data(), x.data(), exact.data());
    // Accumulation order may move a sum across a bfloat16 rounding boundary
    // (one step is 2^-8 relative) and the next links carry that on.
    EXPECT_LT(max_rel(chain, ref), 2e-4);
    EXPECT_GT(max_rel(chain, exact), 1e-3) << "not the bf16 path";
  }
}

// float32 <-> bf16 in one dense layout is our elementwise conversion: the
// same bits as oneDNN's reorder (to nearest even, ties included), NaN kept
// NaN, and bf16 -> float32 exact. A padded layout (channels not a multiple
// of the block) still goes through oneDNN, which zeroes the padding.
TEST(CpuBf16, ReorderRoundsAsOneDnn) {
  if (!unavailable().empty()) GTEST_SKIP() << unavailable();
  using dnnl::memory;
  using dt = memory::data_type;
  using tag = memory::format_tag;
  for (int channels : {32, 20}) {
    SCOPED_TRACE("channels " + std::to_string(channels));
    const memory::dims dims{2, channels, 5, 3};
    const memory::desc f32d(dims, dt::f32, tag::nChw16c), bf16d(dims, dt::bf16, tag::nChw16c);
    std::vector<float> x(f32d.get_size() / sizeof(float));
    auto r = randv(x.size(), 77);
    for (size_t i = 0; i < x.size(); ++i) x[i] = r[i] * 1000.f;
    const uint32_t specials[] = {0x3f808000u,  // a tie, even below: rounds down
                                 0x3f818000u,  // a tie, odd below: rounds up
                                 0x3f80ffffu, 0x7f7fffffu /* rounds to inf */,
                                 0x7f800000u, 0xff800000u,
                                 0x7fc00000u, 0x7f800001u /* a NaN with only low bits */,
                                 0x80000000u, 0x00000001u};
    for (size_t i = 0; i < std::size(specials); ++i) std::memcpy(&x[i * 7], &specials[i], 4);
    EXPECT_EQ(cpu_reorder_elementwise(f32d.data, bf16d.data), channels % 16 == 0);
    EXPECT_EQ(cpu_reorder_elementwise(bf16d.data, f32d.data), channels % 16 == 0);
    EXPECT_FALSE(cpu_reorder_elementwise(f32d.data, memory::desc(dims, dt::bf16, tag::nchw).data));
    std::vector<uint16_t> ours(bf16d.get_size() / 2, 0xdead), theirs(ours.size(), 0xbeef);
    dnnl::engine& e = cpu_dnnl_engine();
    dnnl::stream s(e);
    memory xf(f32d, e, x.data()), yo(bf16d, e, ours.data()), yt(bf16d, e, theirs.data());
    cpu_reorder(xf, yo, s);
    dnnl::reorder(xf, yt).execute(s, xf, yt);
    s.wait();
    for (size_t i = 0; i < ours.size(); ++i) {
      const bool nan = (ours[i] & 0x7fffu) > 0x7f80u;
      if (nan)
        EXPECT_GT(theirs[i] & 0x7fffu, 0x7f80u) << "element " << i;
      else
        ASSERT_EQ(ours[i], theirs[i]) << "element " << i;
    }
    std::memcpy(&x[0], &specials[7], 4);  // the low-bit NaN must not become infinity
    cpu_reorder(xf, yo, s);
    EXPECT_GT(ours[0] & 0x7fffu, 0x7f80u);
    std::vector<float> back(x.size(), -1.f);
    memory bf(f32d, e, back.data());
    cpu_reorder(yo, bf, s);
    s.wait();
    for (size_t i = 0; i < back.size(); ++i) {
      uint32_t u;
      std::memcpy(&u, &back[i], 4);
      ASSERT_EQ(u, uint32_t(ours[i]) << 16) << "element " << i;
    }
  }
}
