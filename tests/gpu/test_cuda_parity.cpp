// Every Backend op on the CUDA device against the CPU reference backend.
// Stated tolerances (|gpu - cpu| <= atol + rtol |cpu|):
//   exact (==):         copies, fill, ReLU/LeakyReLU, dropout masks, max-pool
//                       routing, elementwise add/mul/scale, has_non_finite
//   1e-6 rel + 1e-6:    affine elementwise ops, SGD/Adam updates, normalisation
//   2e-6 rel + 2e-6:    GELU/sigmoid/tanh (device libm ulps), softmax, losses
//   1e-5 rel + 1e-5*K:  GEMM, convolution (cuBLAS summation order; K = inner length)
//   1e-4 rel + 1e-5:    batch-norm (float outputs of double statistics)
//   1e-9 relative:      sum/sum_squares/mse (double accumulation, any order)
#include <limits>

#include "core/backend/backend.h"
#include "parity_harness.h"

#ifdef PERCEPTRA_WITH_CUDA
#include "core/backend/cuda/cuda_device.h"
#include "core/tensor/cuda_upload.h"
#endif

using namespace perceptra;
using parity::expect_close;
using parity::randv;

class CudaParity : public parity::DeviceTest {};

TEST_F(CudaParity, CopiesFillAndStagingAreExact) {
  // Larger than one pinned staging chunk (1 Mi floats) to cross chunk borders.
  const size_t n = (size_t(1) << 21) + 12345;
  auto v = randv(n, 1);
  Tensor t = up(v);
  EXPECT_EQ(t.to_vector(), v);
  Tensor u = dev_empty(n);
  gpu().copy(u.data(), t.data(), n);
  EXPECT_EQ(u.to_vector(), v);
  gpu().fill(u.data(), 1000, 2.5f);
  auto back = u.to_vector();
  for (size_t i = 0; i < 1000; ++i) ASSERT_EQ(back[i], 2.5f);
  EXPECT_EQ(back[1000], v[1000]);
}

TEST_F(CudaParity, GemmAllTransposesWithStrides) {
  const int M = 67, N = 45, K = 129;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
      auto A = randv((size_t)(ta ? K : M) * lda, 2), B = randv((size_t)(tb ? N : K) * ldb, 3),
           C = randv((size_t)M * ldc, 4);
      auto want = C;
      cpu().gemm(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, 0.5f, want.data(), ldc);
      Tensor a = up(A), b = up(B), c = up(C);
      gpu().gemm(ta, tb, M, N, K, 0.75f, a.data(), lda, b.data(), ldb, 0.5f, c.data(), ldc);
      expect_close(c.to_vector(), want, 1e-5, 1e-5 * K, "gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
    }
}

TEST_F(CudaParity, BiasRowsAndColumnSums) {
  const int rows = 300, cols = 37;
  auto y = randv((size_t)rows * cols, 5), bias = randv(cols, 6), out = randv(cols, 7);
  auto wy = y;
  cpu().add_bias_rows(wy.data(), bias.data(), rows, cols);
  Tensor ty = up(y), tb = up(bias);
  gpu().add_bias_rows(ty.data(), tb.data(), rows, cols);
  expect_close(ty.to_vector(), wy, 0, 0, "add_bias_rows");
  for (float beta : {0.f, 0.5f}) {
    auto wo = out;
    cpu().sum_rows(y.data(), wo.data(), rows, cols, beta);
    Tensor tx = up(y), to = up(out);
    gpu().sum_rows(tx.data(), to.data(), rows, cols, beta);
    expect_close(to.to_vector(), wo, 1e-6, 1e-6, "sum_rows");
  }
}

struct ConvCase {
  int N, C, H, W, K, R, S, stride, pad, dil, groups;
};
class CudaConvParity : public parity::DeviceTest, public ::testing::WithParamInterface<ConvCase> {};

TEST_P(CudaConvParity, ForwardAndBackward) {
  auto c = GetParam();
  auto g =
      make_conv_geometry(c.N, c.C, c.H, c.W, c.K, c.R, c.S, c.stride, c.stride, c.pad, c.pad, c.dil, c.dil, c.groups);
  const size_t xn = (size_t)c.N * c.C * c.H * c.W, yn = (size_t)c.N * c.K * g.P * g.Q;
  const int CRSg = c.C / c.groups * c.R * c.S;
  const size_t wn = (size_t)c.K * CRSg;
  auto x = randv(xn, 8), w = randv(wn, 9), b = randv(c.K, 10), dy = randv(yn, 11);
  std::vector<float> y(yn), dx(xn), dw(wn), db(c.K);
  cpu().conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
  cpu().conv2d_backward(g, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data());
  Tensor tx = up(x), tw = up(w), tb = up(b), tdy = up(dy), ty = dev_empty(yn), tdx = dev_empty(xn), tdw = dev_empty(wn),
         tdb = dev_empty(c.K);
  gpu().conv2d_forward(g, tx.data(), tw.data(), tb.data(), ty.data());
  gpu().conv2d_backward(g, tx.data(), tw.data(), tdy.data(), tdx.data(), tdw.data(), tdb.data());
  const double inner_fwd = CRSg, inner_dw = (double)c.N * g.P * g.Q, inner_dx = (double)c.K * c.R * c.S;
  expect_close(ty.to_vector(), y, 1e-5, 1e-5 * inner_fwd, "conv forward");
  expect_close(tdw.to_vector(), dw, 1e-5, 1e-5 * inner_dw, "conv dw");
  expect_close(tdx.to_vector(), dx, 1e-5, 1e-5 * inner_dx, "conv dx");
  expect_close(tdb.to_vector(), db, 1e-5, 1e-5 * inner_dw, "conv db");
  // No bias, no dx, no db: dw alone must not change.
  cpu().conv2d_forward(g, x.data(), w.data(), nullptr, y.data());
  gpu().conv2d_forward(g, tx.data(), tw.data(), nullptr, ty.data());
  expect_close(ty.to_vector(), y, 1e-5, 1e-5 * inner_fwd, "conv forward without bias");
  gpu().conv2d_backward(g, tx.data(), tw.data(), tdy.data(), nullptr, tdw.data(), nullptr);
  expect_close(tdw.to_vector(), dw, 1e-5, 1e-5 * inner_dw, "conv dw only");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CudaConvParity,
    ::testing::Values(ConvCase{4, 3, 28, 28, 8, 3, 3, 1, 1, 1, 1}, ConvCase{3, 4, 13, 11, 6, 3, 3, 2, 1, 1, 2},
                      ConvCase{2, 6, 12, 12, 6, 3, 3, 1, 2, 2, 3}, ConvCase{5, 8, 7, 7, 16, 1, 1, 1, 0, 1, 1},
                      ConvCase{2, 4, 9, 9, 4, 3, 3, 1, 1, 1, 4}, ConvCase{1, 1, 32, 32, 6, 5, 5, 1, 0, 1, 1},
                      // More than one 128 MiB im2col chunk.
                      ConvCase{128, 16, 48, 48, 16, 3, 3, 1, 1, 1, 1}));

TEST_F(CudaParity, PoolingForwardAndBackward) {
  struct P {
    int N, C, H, W, k, s, pad;
  };
  for (P c : {P{4, 3, 28, 28, 2, 2, 0}, P{2, 5, 15, 13, 3, 2, 1}, P{3, 2, 8, 8, 3, 1, 1}}) {
    auto g = make_pool_geometry(c.N, c.C, c.H, c.W, c.k, c.k, c.s, c.s, c.pad, c.pad);
    const size_t in = (size_t)c.N * c.C * c.H * c.W, out = (size_t)c.N * c.C * g.P * g.Q;
    // Coarse values: ties exercise the first-maximum gradient rule.
    auto x = randv(in, 12);
    for (auto& v : x) v = std::round(v * 2.f);
    auto dy = randv(out, 13);
    std::vector<float> y(out), dx(in);
    Tensor tx = up(x), tdy = up(dy), ty = dev_empty(out), tdx = dev_empty(in);
    cpu().maxpool2d_forward(g, x.data(), y.data());
    cpu().maxpool2d_backward(g, x.data(), y.data(), dy.data(), dx.data());
    gpu().maxpool2d_forward(g, tx.data(), ty.data());
    gpu().maxpool2d_backward(g, tx.data(), ty.data(), tdy.data(), tdx.data());
    expect_close(ty.to_vector(), y, 0, 0, "maxpool forward");
    expect_close(tdx.to_vector(), dx, 1e-6, 1e-6, "maxpool backward");
    // Training form: same argmax offsets, same gradients.
    std::vector<float> arg(maxpool_argmax_floats(g));
    Tensor targ = dev_empty(arg.size());
    cpu().maxpool2d_forward_argmax(g, x.data(), y.data(), arg.data());
    cpu().maxpool2d_backward_argmax(g, arg.data(), dy.data(), dx.data());
    gpu().maxpool2d_forward_argmax(g, tx.data(), ty.data(), targ.data());
    gpu().maxpool2d_backward_argmax(g, targ.data(), tdy.data(), tdx.data());
    expect_close(ty.to_vector(), y, 0, 0, "maxpool argmax forward");
    expect_close(targ.to_vector(), arg, 0, 0, "maxpool argmax offsets");
    expect_close(tdx.to_vector(), dx, 1e-6, 1e-6, "maxpool argmax backward");
    cpu().avgpool2d_forward(g, x.data(), y.data());
    cpu().avgpool2d_backward(g, dy.data(), dx.data());
    gpu().avgpool2d_forward(g, tx.data(), ty.data());
    gpu().avgpool2d_backward(g, tdy.data(), tdx.data());
    expect_close(ty.to_vector(), y, 1e-6, 1e-6, "avgpool forward");
    expect_close(tdx.to_vector(), dx, 1e-6, 1e-6, "avgpool backward");
  }
  const int planes = 70, hw = 49;
  auto x = randv((size_t)planes * hw, 14), dy = randv(planes, 15);
  std::vector<float> y(planes), dx((size_t)planes * hw);
  cpu().global_avgpool_forward(x.data(), y.data(), planes, hw);
  cpu().global_avgpool_backward(dy.data(), dx.data(), planes, hw);
  Tensor tx = up(x), tdy = up(dy), ty = dev_empty(planes), tdx = dev_empty(x.size());
  gpu().global_avgpool_forward(tx.data(), ty.data(), planes, hw);
  gpu().global_avgpool_backward(tdy.data(), tdx.data(), planes, hw);
  expect_close(ty.to_vector(), y, 1e-6, 1e-6, "global avgpool forward");
  expect_close(tdx.to_vector(), dx, 1e-6, 0, "global avgpool backward");
}

TEST_F(CudaParity, Activations) {
  const size_t n = 100003;
  auto x = randv(n, 16, -8.f, 8.f), dy = randv(n, 17);
  for (Activation a : {Activation::ReLU, Activation::LeakyReLU, Activation::GELU, Activation::Sigmoid, Activation::Tanh,
                       Activation::ReLU6}) {
    const bool exact = a == Activation::ReLU || a == Activation::LeakyReLU || a == Activation::ReLU6;
    const double tol = exact ? 0 : 2e-6;
    std::vector<float> y(n), dx(n);
    cpu().activation_forward(a, 0.02f, x.data(), y.data(), n);
    cpu().activation_backward(a, 0.02f, x.data(), y.data(), dy.data(), dx.data(), n);
    Tensor tx = up(x), tdy = up(dy), ty = dev_empty(n), tdx = dev_empty(n);
    gpu().activation_forward(a, 0.02f, tx.data(), ty.data(), n);
    gpu().activation_backward(a, 0.02f, tx.data(), ty.data(), tdy.data(), tdx.data(), n);
    const std::string name = "activation " + std::to_string(static_cast<int>(a));
    expect_close(ty.to_vector(), y, tol, tol, name + " forward");
    expect_close(tdx.to_vector(), dx, tol, tol, name + " backward");
  }
}

TEST_F(CudaParity, SoftmaxCrossEntropyAndMse) {
  const int N = 257, C = 10;
  auto logits = randv((size_t)N * C, 18, -15.f, 15.f);
  std::vector<float> labels(N);
  for (int i = 0; i < N; ++i) labels[i] = static_cast<float>((i * 7) % C);
  Tensor tl = up(logits), tlab = up(labels), tp = dev_empty((size_t)N * C), tloss = dev_empty(N),
         td = dev_empty((size_t)N * C);
  for (float smoothing : {0.f, 0.1f}) {
    std::vector<float> p((size_t)N * C), loss(N), d((size_t)N * C);
    cpu().softmax_xent_forward(logits.data(), labels.data(), p.data(), loss.data(), N, C, smoothing);
    cpu().softmax_xent_backward(p.data(), labels.data(), d.data(), N, C, smoothing, 1.f / N);
    gpu().softmax_xent_forward(tl.data(), tlab.data(), tp.data(), tloss.data(), N, C, smoothing);
    gpu().softmax_xent_backward(tp.data(), tlab.data(), td.data(), N, C, smoothing, 1.f / N);
    expect_close(tp.to_vector(), p, 2e-6, 1e-7, "softmax_xent probs");
    expect_close(tloss.to_vector(), loss, 2e-6, 2e-6, "softmax_xent loss");
    expect_close(td.to_vector(), d, 2e-6, 1e-8, "softmax_xent grad");
  }
  std::vector<float> y((size_t)N * C);
  cpu().softmax(logits.data(), y.data(), N, C);
  gpu().softmax(tl.data(), tp.data(), N, C);
  expect_close(tp.to_vector(), y, 2e-6, 1e-7, "softmax");

  const size_t n = 50001;
  auto p = randv(n, 19), t = randv(n, 20);
  std::vector<float> dp(n);
  double want = cpu().mse(p.data(), t.data(), dp.data(), n);
  Tensor tpp = up(p), tt = up(t), tdp = dev_empty(n);
  double got = gpu().mse(tpp.data(), tt.data(), tdp.data(), n);
  EXPECT_NEAR(got, want, 1e-9 * want);
  expect_close(tdp.to_vector(), dp, 1e-6, 0, "mse grad");
  EXPECT_NEAR(gpu().mse(tpp.data(), tt.data(), nullptr, n), want, 1e-9 * want);
}

TEST_F(CudaParity, BatchNorm) {
  for (int HW : {1, 49}) {
    const int N = 32, C = 12;
    const size_t n = (size_t)N * C * HW;
    auto x = randv(n, 21, -1.f, 3.f), dy = randv(n, 22), gamma = randv(C, 23, 0.5f, 1.5f), beta = randv(C, 24),
         rm = randv(C, 25), rv = randv(C, 26, 0.5f, 2.f);
    std::vector<float> y(n), mean(C), invstd(C), crm = rm, crv = rv, dx(n), dg(C), dbt(C);
    cpu().batchnorm_forward_train(x.data(), y.data(), gamma.data(), beta.data(), mean.data(), invstd.data(), crm.data(),
                                  crv.data(), N, C, HW, 0.1f, 1e-5f);
    cpu().batchnorm_backward(x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(), dx.data(), dg.data(),
                             dbt.data(), N, C, HW);
    Tensor tx = up(x), tdy = up(dy), tg = up(gamma), tb = up(beta), trm = up(rm), trv = up(rv), ty = dev_empty(n),
           tmean = dev_empty(C), tinv = dev_empty(C), tdx = dev_empty(n), tdg = dev_empty(C), tdb = dev_empty(C);
    gpu().batchnorm_forward_train(tx.data(), ty.data(), tg.data(), tb.data(), tmean.data(), tinv.data(), trm.data(),
                                  trv.data(), N, C, HW, 0.1f, 1e-5f);
    gpu().batchnorm_backward(tx.data(), tdy.data(), tg.data(), tmean.data(), tinv.data(), tdx.data(), tdg.data(),
                             tdb.data(), N, C, HW);
    expect_close(ty.to_vector(), y, 1e-4, 1e-5, "bn train y");
    expect_close(tmean.to_vector(), mean, 1e-6, 1e-7, "bn mean");
    expect_close(tinv.to_vector(), invstd, 1e-6, 0, "bn invstd");
    expect_close(trm.to_vector(), crm, 1e-6, 1e-7, "bn running mean");
    expect_close(trv.to_vector(), crv, 1e-6, 1e-7, "bn running var");
    expect_close(tdx.to_vector(), dx, 1e-4, 1e-5, "bn dx");
    expect_close(tdg.to_vector(), dg, 1e-5, 1e-5, "bn dgamma");
    expect_close(tdb.to_vector(), dbt, 1e-5, 1e-5, "bn dbeta");
    cpu().batchnorm_forward_eval(x.data(), y.data(), gamma.data(), beta.data(), rm.data(), rv.data(), N, C, HW, 1e-5f);
    Tensor trm0 = up(rm), trv0 = up(rv);
    gpu().batchnorm_forward_eval(tx.data(), ty.data(), tg.data(), tb.data(), trm0.data(), trv0.data(), N, C, HW, 1e-5f);
    expect_close(ty.to_vector(), y, 1e-6, 1e-6, "bn eval");
    // A residual block's sum and ReLU in the training forward's pass.
    auto add = randv(n, 30);
    std::vector<float> rm2 = rm, rv2 = rv;
    cpu().batchnorm_forward_train(x.data(), y.data(), gamma.data(), beta.data(), mean.data(), invstd.data(), rm2.data(),
                                  rv2.data(), N, C, HW, 0.1f, 1e-5f, 1, true, add.data());
    Tensor tadd = up(add), trm2 = up(rm), trv2 = up(rv);
    gpu().batchnorm_forward_train(tx.data(), ty.data(), tg.data(), tb.data(), tmean.data(), tinv.data(), trm2.data(),
                                  trv2.data(), N, C, HW, 0.1f, 1e-5f, 1, true, tadd.data());
    expect_close(ty.to_vector(), y, 1e-4, 1e-5, "bn train + add + relu");
  }
}

TEST_F(CudaParity, DropoutMasksAreIdentical) {
  const size_t n = 300007;
  auto x = randv(n, 27);
  for (float p : {0.f, 0.25f, 0.5f}) {
    std::vector<float> y(n), mask(n);
    cpu().dropout_forward(x.data(), y.data(), mask.data(), n, p, 0xABCDEF12345ull);
    Tensor tx = up(x), ty = dev_empty(n), tm = dev_empty(n);
    gpu().dropout_forward(tx.data(), ty.data(), tm.data(), n, p, 0xABCDEF12345ull);
    expect_close(tm.to_vector(), mask, 0, 0, "dropout mask");
    expect_close(ty.to_vector(), y, 0, 0, "dropout output");
  }
}

TEST_F(CudaParity, ElementwiseAndReductions) {
  const size_t n = 123457;
  auto a = randv(n, 28), b = randv(n, 29);
  Tensor ta = up(a), tb = up(b), to = dev_empty(n);
  std::vector<float> o(n);
  cpu().add(a.data(), b.data(), o.data(), n);
  gpu().add(ta.data(), tb.data(), to.data(), n);
  expect_close(to.to_vector(), o, 0, 0, "add");
  cpu().mul(a.data(), b.data(), o.data(), n);
  gpu().mul(ta.data(), tb.data(), to.data(), n);
  expect_close(to.to_vector(), o, 0, 0, "mul");
  // axpby with beta = 0 must not read y (NaN garbage there).
  std::vector<float> nan_y(n, std::numeric_limits<float>::quiet_NaN());
  cpu().axpby(1.5f, a.data(), 0.f, nan_y.data(), n);
  Tensor ty = up(std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()));
  gpu().axpby(1.5f, ta.data(), 0.f, ty.data(), n);
  expect_close(ty.to_vector(), nan_y, 1e-6, 1e-6, "axpby beta=0");
  auto y = b;
  cpu().axpby(1.5f, a.data(), -0.5f, y.data(), n);
  Tensor ty2 = up(b);
  gpu().axpby(1.5f, ta.data(), -0.5f, ty2.data(), n);
  expect_close(ty2.to_vector(), y, 1e-6, 1e-6, "axpby");
  auto s = a;
  cpu().scale(s.data(), 0.3f, n);
  Tensor ts = up(a);
  gpu().scale(ts.data(), 0.3f, n);
  expect_close(ts.to_vector(), s, 0, 0, "scale");

  const int N = 6, C = 3, HW = 1000;
  auto x = randv((size_t)N * C * HW, 30, 0.f, 255.f);
  std::vector<float> mean = {120.f, 110.f, 100.f}, inv = {1 / 60.f, 1 / 55.f, 1 / 50.f};
  std::vector<float> xo(x.size());
  cpu().normalize_channels(x.data(), xo.data(), mean.data(), inv.data(), N, C, HW);
  Tensor tx = up(x), tm = up(mean), ti = up(inv), txo = dev_empty(x.size());
  gpu().normalize_channels(tx.data(), txo.data(), tm.data(), ti.data(), N, C, HW);
  expect_close(txo.to_vector(), xo, 1e-6, 1e-6, "normalize_channels");

  const double sw = cpu().sum(a.data(), n), qw = cpu().sum_squares(a.data(), n);
  EXPECT_NEAR(gpu().sum(ta.data(), n), sw, 1e-9 * std::fabs(qw));
  EXPECT_NEAR(gpu().sum_squares(ta.data(), n), qw, 1e-9 * qw);
  EXPECT_FALSE(gpu().has_non_finite(ta.data(), n));
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    auto c = a;
    c[n - 1] = bad;
    Tensor tc = up(c);
    EXPECT_TRUE(gpu().has_non_finite(tc.data(), n)) << bad;
  }
}

TEST_F(CudaParity, OptimizerUpdates) {
  const size_t n = 77777;
  auto w = randv(n, 31), g = randv(n, 32), v = randv(n, 33), m2 = randv(n, 34, 0.f, 0.1f);
  for (int variant = 0; variant < 4; ++variant) {
    const float momentum = variant == 0 ? 0.f : 0.9f;
    const bool nesterov = variant == 3, first = variant == 1;
    auto cw = w, cv = v;
    cpu().sgd_update(cw.data(), g.data(), momentum ? cv.data() : nullptr, n, 0.05f, momentum, 0.f, 5e-4f, nesterov,
                     first);
    Tensor tw = up(w), tg = up(g), tv = up(v);
    gpu().sgd_update(tw.data(), tg.data(), momentum ? tv.data() : nullptr, n, 0.05f, momentum, 0.f, 5e-4f, nesterov,
                     first);
    expect_close(tw.to_vector(), cw, 1e-6, 1e-7, "sgd w variant " + std::to_string(variant));
    expect_close(tv.to_vector(), cv, 1e-6, 1e-7, "sgd v variant " + std::to_string(variant));
  }
  for (bool decoupled : {false, true}) {
    auto cw = w, cm = v, cv = m2;
    cpu().adam_update(cw.data(), g.data(), cm.data(), cv.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, 7);
    Tensor tw = up(w), tg = up(g), tm = up(v), tv = up(m2);
    gpu().adam_update(tw.data(), tg.data(), tm.data(), tv.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled, 7);
    expect_close(tw.to_vector(), cw, 1e-6, 1e-7, "adam w");
    expect_close(tm.to_vector(), cm, 1e-6, 1e-7, "adam m");
    expect_close(tv.to_vector(), cv, 1e-6, 1e-9, "adam v");
  }
}

#ifdef PERCEPTRA_WITH_CUDA
// Uploads on the copy stream into recycled blocks while kernels still use
// the previous batch: every batch must arrive intact and in order.
TEST_F(CudaParity, UploadBatchOverlapsSafely) {
  if (parity::selftest()) GTEST_SKIP() << "CUDA-only behaviour";
  const size_t n = 3 * (size_t(1) << 20) + 17;  // several staging chunks
  std::vector<float> host(n);
  Tensor acc = Tensor::zeros({static_cast<int64_t>(n)}, dev);
  double want = 0;
  for (int batch = 0; batch < 6; ++batch) {
    for (size_t i = 0; i < n; ++i) host[i] = static_cast<float>((i + batch) % 13);
    Tensor t = cuda::upload_batch(host.data(), {static_cast<int64_t>(n)}, dev);
    // Scribble over host right away: upload_batch promised it had copied.
    for (auto& v : host) v = -1000.f;
    gpu().add(acc.data(), t.data(), acc.data(), n);
    gpu().scale(t.data(), 0.f, n);  // the batch block is written by a kernel before it is freed
    for (size_t i = 0; i < n; ++i) want += (i + batch) % 13;
  }
  EXPECT_DOUBLE_EQ(gpu().sum(acc.data(), n), want);
  auto st = cuda::memory_stats(0);
  EXPECT_GT(st.reuses, 0);
  std::printf("allocator: %zu B in use, %zu B cached, %lld cudaMalloc, %lld reuses\n", st.in_use, st.cached,
              (long long)st.device_mallocs, (long long)st.reuses);
  auto info = cuda::device_info(0);
  std::printf("device: %s sm_%d%d, %zu MiB; %s\n", info.name.c_str(), info.major, info.minor, info.total_memory >> 20,
              gpu().describe().c_str());
}
#endif
