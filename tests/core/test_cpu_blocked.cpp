// Channel-blocked activations ([N, C/b, HW, b], Tensor::channel_block): the
// CPU backend's reorder, batch norm and convolutions on blocked operands
// against the same ops on NCHW, and the Tensor views that read them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_winograd.h"
#include "core/tensor/tensor.h"
#include "tests/core/cpu_test_util.h"

using namespace perceptra;

namespace {

using test::randv;
CpuBackend& B() { return cpu_backend(); }

std::vector<float> reorder(const std::vector<float>& x, int N, int C, int HW, int from, int to) {
  std::vector<float> y(x.size(), -7.f);
  B().reorder_channel_block(x.data(), y.data(), N, C, HW, from, to);
  return y;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& r, float tol, const char* what) {
  ASSERT_EQ(a.size(), r.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], r[i], tol * (1 + std::abs(r[i]))) << what << " " << i;
}

}  // namespace

TEST(ChannelBlocks, ReorderPutsEveryChannelWhereTheLayoutSays) {
  const int N = 3, C = 32, HW = 5;
  std::vector<float> x(size_t(N) * C * HW);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(i);  // value = NCHW index
  for (int b : {8, 16}) {
    const std::vector<float> y = reorder(x, N, C, HW, 1, b);
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c)
        for (int p = 0; p < HW; ++p)
          ASSERT_EQ(y[((size_t(n) * (C / b) + c / b) * HW + p) * b + c % b], x[(size_t(n) * C + c) * HW + p])
              << "block " << b;
    EXPECT_EQ(reorder(y, N, C, HW, b, 1), x) << "back to NCHW, block " << b;
    const int other = b == 8 ? 16 : 8;
    EXPECT_EQ(reorder(y, N, C, HW, b, other), reorder(x, N, C, HW, 1, other)) << "block to block";
  }
  EXPECT_EQ(reorder(x, N, C, HW, 1, 1), x);
  EXPECT_THROW(reorder(x, N, C, HW, 1, 12), Error) << "32 channels are not blocks of 12";
}

TEST(ChannelBlocks, TensorsReadBackInNchwWhateverTheirBlock) {
  const Shape s{2, 16, 3, 4};
  const std::vector<float> v = randv(size_t(s.numel()), 1);
  Tensor plain = Tensor::from_vector(s, v);
  Tensor blocked = plain.in_channel_block(16);
  EXPECT_EQ(blocked.channel_block(), 16);
  EXPECT_FALSE(blocked.shares_storage_with(plain));
  EXPECT_NE(std::vector<float>(blocked.data(), blocked.data() + v.size()), v) << "the bytes really moved";
  EXPECT_EQ(blocked.to_vector(), v);
  EXPECT_EQ(blocked.clone().to_vector(), v);
  EXPECT_EQ(blocked.clone().channel_block(), 16);
  EXPECT_EQ(blocked.reshape({2, 192}).to_vector(), v);
  EXPECT_EQ(blocked.reshape({2, 192}).channel_block(), 1);
  EXPECT_TRUE(blocked.in_channel_block(16).shares_storage_with(blocked));
  Tensor dst = Tensor::empty(s);
  dst.copy_from(blocked);
  EXPECT_EQ(dst.to_vector(), v);
  EXPECT_EQ(dst.channel_block(), 1);
  Tensor bdst = Tensor::empty(s).with_channel_block(16);
  bdst.copy_from(plain);
  EXPECT_EQ(bdst.to_vector(), v);
  EXPECT_EQ(blocked.slice(1, 2).to_vector(), std::vector<float>(v.begin() + 192, v.end())) << "samples stay outermost";
  EXPECT_THROW(plain.with_channel_block(32), Error) << "16 channels are not a block of 32";
  EXPECT_THROW(Tensor::empty({4, 16}).with_channel_block(16), Error) << "only images are blocked";
}

TEST(ChannelBlocks, BatchNormOnBlocksEqualsBatchNormOnNchw) {
  for (int b : {8, 16}) {
    const int N = 5, C = 32, HW = 7 * 7;
    const size_t n = size_t(N) * C * HW;
    std::vector<float> x = randv(n, 2), dy = randv(n, 3), gamma = randv(C, 4), beta = randv(C, 5);
    for (size_t i = 0; i < n; ++i) x[i] = 3.f + 2.f * x[i];  // an offset mean, as after a convolution
    struct Out {
      std::vector<float> y, mean, invstd, rm, rv, dx, dg, db;
    } o[2];
    for (int k = 0; k < 2; ++k) {
      const int block = k ? b : 1;
      Out& r = o[k];
      r.y.assign(n, 0.f);
      r.dx.assign(n, 0.f);
      r.mean.assign(C, 0.f);
      r.invstd.assign(C, 0.f);
      r.rm.assign(C, 0.5f);
      r.rv.assign(C, 2.f);
      r.dg.assign(C, 0.f);
      r.db.assign(C, 0.f);
      const std::vector<float> xb = reorder(x, N, C, HW, 1, block), dyb = reorder(dy, N, C, HW, 1, block);
      B().batchnorm_forward_train(xb.data(), r.y.data(), gamma.data(), beta.data(), r.mean.data(), r.invstd.data(),
                                  r.rm.data(), r.rv.data(), N, C, HW, 0.1f, 1e-5f, block);
      B().batchnorm_backward(xb.data(), dyb.data(), gamma.data(), r.mean.data(), r.invstd.data(), r.dx.data(),
                             r.dg.data(), r.db.data(), N, C, HW, block);
      r.y = reorder(r.y, N, C, HW, block, 1);
      r.dx = reorder(r.dx, N, C, HW, block, 1);
    }
    SCOPED_TRACE(b);
    expect_close(o[1].y, o[0].y, 1e-5f, "y");
    expect_close(o[1].mean, o[0].mean, 1e-6f, "mean");
    expect_close(o[1].invstd, o[0].invstd, 1e-6f, "invstd");
    expect_close(o[1].rm, o[0].rm, 1e-6f, "running mean");
    expect_close(o[1].rv, o[0].rv, 1e-6f, "running var");
    expect_close(o[1].dx, o[0].dx, 1e-5f, "dx");
    expect_close(o[1].dg, o[0].dg, 1e-5f, "dgamma");
    expect_close(o[1].db, o[0].db, 1e-5f, "dbeta");
  }
}

// Every way a convolution meets blocked operands (x and dx in in_block, y
// and dy in out_block) gives the NCHW results: on oneDNN, with Winograd on
// and off, and on the im2col fallback (which reorders around itself).
TEST(ChannelBlocks, ConvolutionsOnBlocksEqualConvolutionsOnNchw) {
  const test::WinogradRestore winograd_default;
  const CpuConvImpl impl_default = cpu_conv_impl();
  struct Case {
    int N, C, H, W, K, R, S, stride, pad, groups, in_block, out_block;
  };
  for (Case c : {Case{2, 1, 12, 12, 16, 3, 3, 1, 1, 1, 1, 16},    // the stem: one channel in, blocked out
                 Case{3, 1, 13, 11, 32, 5, 5, 2, 2, 1, 1, 16},    // ... any kernel size, stride, odd plane
                 Case{2, 1, 12, 12, 16, 3, 3, 1, 0, 1, 1, 8},     // ... AVX2's block, no padding
                 Case{2, 16, 10, 10, 16, 3, 3, 1, 1, 1, 16, 16},  // Winograd's shape
                 Case{2, 16, 10, 10, 32, 3, 3, 2, 1, 1, 16, 16},  // stride 2
                 Case{2, 16, 10, 10, 32, 1, 1, 2, 0, 1, 16, 16},  // the projection shortcut
                 Case{3, 32, 9, 9, 64, 1, 1, 2, 0, 1, 16, 16},    // ... odd plane, several blocks each side
                 Case{2, 16, 11, 11, 24, 1, 1, 3, 0, 1, 8, 8},    // ... stride 3, AVX2's block
                 Case{2, 32, 9, 9, 32, 3, 3, 1, 1, 32, 16, 16},   // depthwise
                 Case{2, 48, 9, 9, 48, 3, 3, 2, 1, 48, 16, 16},   // depthwise, stride 2
                 Case{2, 24, 7, 7, 144, 1, 1, 1, 0, 1, 8, 16},    // MobileNetV2's expansion, mixed blocks
                 Case{2, 16, 9, 9, 16, 3, 3, 1, 1, 1, 8, 8},      // AVX2's block
                 Case{2, 16, 20, 20, 16, 3, 3, 1, 1, 1, 8, 8},    // Winograd's F(4x4) tiles (planes of 16 and more)
                 Case{2, 16, 20, 20, 32, 3, 3, 1, 1, 1, 16, 16},
                 Case{2, 16, 9, 9, 16, 3, 3, 1, 1, 1, 16, 1},  // blocked in, NCHW out
                 Case{2, 16, 9, 9, 16, 3, 3, 1, 1, 1, 1, 16}}) {
    ConvGeometry g =
        make_conv_geometry(c.N, c.C, c.H, c.W, c.K, c.R, c.S, c.stride, c.stride, c.pad, c.pad, 1, 1, c.groups);
    const int HW = c.H * c.W, PQ = g.P * g.Q;
    const std::vector<float> x = randv(size_t(c.N) * c.C * HW, 11),
                             w = randv(size_t(c.K) * (c.C / c.groups) * c.R * c.S, 12), bias = randv(c.K, 13),
                             dy = randv(size_t(c.N) * c.K * PQ, 14);
    std::vector<float> y0(dy.size()), yr0(dy.size()), dx0(x.size()), dw0(w.size()), db0(c.K);
    set_cpu_conv_impl(CpuConvImpl::Im2col);
    B().conv2d_forward(g, x.data(), w.data(), bias.data(), y0.data());
    B().conv2d_forward_relu(g, x.data(), w.data(), bias.data(), yr0.data());
    B().conv2d_backward(g, x.data(), w.data(), dy.data(), dx0.data(), dw0.data(), db0.data());
    ConvGeometry gb = g;
    gb.in_block = c.in_block;
    gb.out_block = c.out_block;
    const std::vector<float> xb = reorder(x, c.N, c.C, HW, 1, c.in_block),
                             dyb = reorder(dy, c.N, c.K, PQ, 1, c.out_block);
    for (int run = 0; run < 3; ++run) {  // oneDNN + Winograd, oneDNN alone, im2col
      SCOPED_TRACE(::testing::Message() << "C " << c.C << " K " << c.K << " stride " << c.stride << " blocks "
                                        << c.in_block << "/" << c.out_block << " run " << run);
      set_cpu_conv_impl(run == 2 ? CpuConvImpl::Im2col : CpuConvImpl::OneDnn);
      set_cpu_winograd(run == 0);
      std::vector<float> y(dy.size()), yr(dy.size()), dx(x.size()), dw(w.size()), db(c.K);
      B().conv2d_forward(gb, xb.data(), w.data(), bias.data(), y.data());
      B().conv2d_forward_relu(gb, xb.data(), w.data(), bias.data(), yr.data());
      B().conv2d_backward(gb, xb.data(), w.data(), dyb.data(), dx.data(), dw.data(), db.data());
      expect_close(reorder(y, c.N, c.K, PQ, c.out_block, 1), y0, 1e-4f, "y");
      expect_close(reorder(yr, c.N, c.K, PQ, c.out_block, 1), yr0, 1e-4f, "relu(y)");
      expect_close(reorder(dx, c.N, c.C, HW, c.in_block, 1), dx0, 1e-4f, "dx");
      expect_close(dw, dw0, 1e-4f, "dw");
      expect_close(db, db0, 1e-4f, "db");
      // A shortcut's gradient added into dx (Winograd adds it as it writes
      // dx, other kernels after): the same bits as dx + add, every weight
      // gradient unchanged; the input gradient alone too.
      const std::vector<float> add = randv(x.size(), 15);
      std::vector<float> dxa(x.size()), dwa(w.size()), dba(c.K), dxb(x.size());
      B().conv2d_backward(gb, xb.data(), w.data(), dyb.data(), dxa.data(), dwa.data(), dba.data(), add.data());
      B().conv2d_backward(gb, xb.data(), w.data(), dyb.data(), dxb.data(), nullptr, nullptr, add.data());
      for (size_t i = 0; i < dx.size(); ++i) {
        ASSERT_EQ(dxa[i], dx[i] + add[i]) << "dx + add at " << i;
        ASSERT_EQ(dxb[i], dx[i] + add[i]) << "dx + add, input gradient alone, at " << i;
      }
      EXPECT_EQ(dwa, dw);
      EXPECT_EQ(dba, db);
    }
  }
  set_cpu_conv_impl(impl_default);
}

TEST(ChannelBlocks, TheCpuOffersOneDnnsBlockUnlessTurnedOff) {
  const bool on = cpu_blocked_activations();
  set_cpu_blocked_activations(true);
  const int b = B().activation_channel_block(64);
  EXPECT_TRUE(b == 1 || b == 8 || b == 16) << b;
  if (b > 1) {
    EXPECT_EQ(B().activation_channel_block(b * 3), b);
    EXPECT_EQ(B().activation_channel_block(b + 4), 1) << "channels that are not whole blocks stay NCHW";
  }
  set_cpu_blocked_activations(false);
  EXPECT_EQ(B().activation_channel_block(64), 1);
  set_cpu_blocked_activations(on);
}

// Training max pooling on blocked tensors: the same maxima, the same first-
// maximum argmax (ties, NaN, padding, overlapping windows) and the same
// scattered gradient as on NCHW.
TEST(ChannelBlocks, MaxPoolingOnBlocksEqualsMaxPoolingOnNchw) {
  struct Case {
    int k, s, pad, H = 9, W = 8;  // odd height; the last case an odd width
  };
  for (int b : {8, 16})
    for (Case c : {Case{2, 2, 0}, Case{3, 2, 1}, Case{3, 1, 1}, Case{2, 2, 0, 8, 7}}) {
      const int N = 2, C = 32, H = c.H, W = c.W;
      PoolGeometry g = make_pool_geometry(N, C, H, W, c.k, c.k, c.s, c.s, c.pad, c.pad);
      std::vector<float> x = randv(size_t(N) * C * H * W, 21);
      for (size_t i = 0; i < x.size(); i += 7) x[i] = 0.25f;  // ties
      x[5] = std::nanf("");
      const size_t ny = size_t(N) * C * g.P * g.Q;
      const std::vector<float> dy = randv(ny, 22);
      std::vector<float> y0(ny), a0(ny), dx0(x.size());
      B().maxpool2d_forward_argmax(g, x.data(), y0.data(), a0.data());
      B().maxpool2d_backward_argmax(g, a0.data(), dy.data(), dx0.data());
      PoolGeometry gb = g;
      gb.block = b;
      const std::vector<float> xb = reorder(x, N, C, H * W, 1, b), dyb = reorder(dy, N, C, g.P * g.Q, 1, b);
      std::vector<float> y(ny), a(ny), dx(x.size(), 9.f);
      B().maxpool2d_forward_argmax(gb, xb.data(), y.data(), a.data());
      B().maxpool2d_backward_argmax(gb, a.data(), dyb.data(), dx.data());
      SCOPED_TRACE(::testing::Message() << "block " << b << " kernel " << c.k << " stride " << c.s);
      const std::vector<float> yp = reorder(y, N, C, g.P * g.Q, b, 1), ap = reorder(a, N, C, g.P * g.Q, b, 1);
      for (size_t i = 0; i < ny; ++i) {
        if (std::isnan(y0[i]))
          ASSERT_TRUE(std::isnan(yp[i])) << i;
        else
          ASSERT_EQ(yp[i], y0[i]) << i;
        ASSERT_EQ(ap[i], a0[i]) << i;
      }
      EXPECT_EQ(reorder(dx, N, C, H * W, b, 1), dx0);
    }
}

// Batch norm with its ReLU fused (training, core/nn/train_fusion.h) equals
// batch norm then ReLU, forward and backward, on NCHW and on blocks.
// The blocked forward takes mean and variance from one read (per-slab sums
// and deviations, combined in double): against sums in double on data whose
// mean dwarfs its spread (1000 +- 0.01, where a one-pass sum of squares
// cancels to nothing), planes of one to 97 x 97 positions, and slabs of
// different means.
TEST(ChannelBlocks, BatchNormStatisticsSurviveALargeMean) {
  for (int b : {8, 16})
    for (int HW : {1, 81, 97 * 97}) {
      const int N = 3, C = 16;
      const size_t n = size_t(N) * C * HW;
      std::vector<float> x = randv(n, 7);
      for (size_t i = 0; i < n; ++i) x[i] = 1000.f + 0.01f * x[i] + 0.002f * float((i / size_t(HW)) % 5);
      std::vector<double> mean(C, 0.0), var(C, 0.0);
      for (int c = 0; c < C; ++c) {
        for (int s = 0; s < N; ++s)
          for (int p = 0; p < HW; ++p) mean[size_t(c)] += x[(size_t(s) * C + c) * HW + p];
        mean[size_t(c)] /= double(N) * HW;
        for (int s = 0; s < N; ++s)
          for (int p = 0; p < HW; ++p) {
            const double d = x[(size_t(s) * C + c) * HW + p] - mean[size_t(c)];
            var[size_t(c)] += d * d;
          }
        var[size_t(c)] /= double(N) * HW;
      }
      const std::vector<float> xb = reorder(x, N, C, HW, 1, b), gamma(C, 1.f), beta(C, 0.f);
      std::vector<float> y(n), m(C), invstd(C), rm(C, 0.f), rv(C, 1.f);
      B().batchnorm_forward_train(xb.data(), y.data(), gamma.data(), beta.data(), m.data(), invstd.data(), rm.data(),
                                  rv.data(), N, C, HW, 0.1f, 0.f, b);
      for (int c = 0; c < C; ++c) {
        SCOPED_TRACE("block " + std::to_string(b) + " HW " + std::to_string(HW) + " channel " + std::to_string(c));
        EXPECT_NEAR(m[size_t(c)], mean[size_t(c)], 1e-4);
        if (N * HW > 1) {
          EXPECT_NEAR(1.0 / (double(invstd[size_t(c)]) * invstd[size_t(c)]), var[size_t(c)], 1e-3 * var[size_t(c)]);
        }
      }
    }
}

// A residual block's sum in its last batch norm's pass (core/nn/residual.cpp):
// bn(x) + add, then the ReLU when asked, equals the three passes apart; the
// statistics are x's alone.
TEST(ChannelBlocks, BatchNormAddsTheShortcutBeforeItsRelu) {
  for (int b : {1, 8, 16}) {
    const int N = 3, C = 16, HW = 20;
    const size_t n = size_t(N) * C * HW;
    const std::vector<float> x = randv(n, 41), add = randv(n, 42), gamma = randv(C, 43), beta = randv(C, 44);
    std::vector<float> mean(C), invstd(C), rm(C, 0.f), rv(C, 1.f), y(n);
    B().batchnorm_forward_train(x.data(), y.data(), gamma.data(), beta.data(), mean.data(), invstd.data(), rm.data(),
                                rv.data(), N, C, HW, 0.1f, 1e-5f, b);
    for (bool relu : {false, true}) {
      std::vector<float> m2(C), i2(C), rm2(C, 0.f), rv2(C, 1.f), ys(n, std::nanf(""));
      B().batchnorm_forward_train(x.data(), ys.data(), gamma.data(), beta.data(), m2.data(), i2.data(), rm2.data(),
                                  rv2.data(), N, C, HW, 0.1f, 1e-5f, b, relu, add.data());
      SCOPED_TRACE(::testing::Message() << "block " << b << " relu " << relu);
      EXPECT_EQ(m2, mean);
      EXPECT_EQ(i2, invstd);
      EXPECT_EQ(rm2, std::vector<float>(rm.begin(), rm.end()));
      EXPECT_EQ(rv2, std::vector<float>(rv.begin(), rv.end()));
      int clipped = 0;
      for (size_t i = 0; i < n; ++i) {
        const float want = relu ? std::max(y[i] + add[i], 0.f) : y[i] + add[i];
        ASSERT_NEAR(ys[i], want, 1e-6f * (1 + std::abs(want))) << i;
        clipped += relu && y[i] + add[i] < 0.f;
      }
      if (relu) {
        EXPECT_GT(clipped, int(n / 4)) << "the ReLU really clipped";
      }
    }
  }
}

TEST(ChannelBlocks, BatchNormWithItsReluEqualsBatchNormThenRelu) {
  for (int b : {1, 8, 16}) {
    const int N = 4, C = 16, HW = 25;
    const size_t n = size_t(N) * C * HW;
    const std::vector<float> x = randv(n, 31), dy = randv(n, 32), gamma = randv(C, 33), beta = randv(C, 34);
    std::vector<float> mean(C), invstd(C), rm(C, 0.f), rv(C, 1.f), y(n), yr(n), dx(n), dxr(n), dg(C), dgr(C), db(C),
        dbr(C), masked(n);
    B().batchnorm_forward_train(x.data(), y.data(), gamma.data(), beta.data(), mean.data(), invstd.data(), rm.data(),
                                rv.data(), N, C, HW, 0.1f, 1e-5f, b);
    B().batchnorm_forward_train(x.data(), yr.data(), gamma.data(), beta.data(), mean.data(), invstd.data(), rm.data(),
                                rv.data(), N, C, HW, 0.1f, 1e-5f, b, /*relu=*/true);
    int zeros = 0;
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(yr[i], std::max(y[i], 0.f)) << i;
      masked[i] = yr[i] > 0.f ? dy[i] : 0.f;
      zeros += yr[i] == 0.f;
    }
    EXPECT_GT(zeros, int(n / 4)) << "the ReLU really clipped";
    B().batchnorm_backward(x.data(), masked.data(), gamma.data(), mean.data(), invstd.data(), dx.data(), dg.data(),
                           db.data(), N, C, HW, b);
    B().batchnorm_backward(x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(), dxr.data(), dgr.data(),
                           dbr.data(), N, C, HW, b, yr.data());
    SCOPED_TRACE(b);
    expect_close(dxr, dx, 1e-6f, "dx");
    expect_close(dgr, dg, 1e-6f, "dgamma");
    expect_close(dbr, db, 1e-6f, "dbeta");
    // Given beta, the mask may be recomputed from x (blocked kernels): the
    // forward's own arithmetic, so the same mask, bit for bit.
    std::vector<float> dxb(n), dgb(C), dbb(C);
    B().batchnorm_backward(x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(), dxb.data(), dgb.data(),
                           dbb.data(), N, C, HW, b, yr.data(), beta.data());
    EXPECT_EQ(dxb, dxr);
    EXPECT_EQ(dgb, dgr);
    EXPECT_EQ(dbb, dbr);
    // On the ReLU's edge: channel 0 with gamma = beta = 0 outputs exactly 0
    // everywhere, so both masks block all of it.
    std::vector<float> g0 = gamma, b0 = beta, ye(n), d1(n), d2(n), g1(C), g2(C), b1(C), b2(C);
    g0[0] = b0[0] = 0.f;
    B().batchnorm_forward_train(x.data(), ye.data(), g0.data(), b0.data(), mean.data(), invstd.data(), rm.data(),
                                rv.data(), N, C, HW, 0.1f, 1e-5f, b, true);
    B().batchnorm_backward(x.data(), dy.data(), g0.data(), mean.data(), invstd.data(), d1.data(), g1.data(), b1.data(),
                           N, C, HW, b, ye.data());
    B().batchnorm_backward(x.data(), dy.data(), g0.data(), mean.data(), invstd.data(), d2.data(), g2.data(), b2.data(),
                           N, C, HW, b, ye.data(), b0.data());
    EXPECT_EQ(d2, d1) << "gamma = beta = 0";
    EXPECT_EQ(g2, g1) << "gamma = beta = 0";
    EXPECT_EQ(b1[0], 0.f) << "channel 0's gradient fully masked";
    EXPECT_EQ(b2[0], 0.f) << "channel 0's gradient fully masked";
    // A NaN in the ReLU's output passes dy there (PyTorch's threshold_backward
    // zeroes only where the output is <= 0).
    std::vector<float> yn = yr, mn(n), dxn(n), dxm(n), dgn(C), dgm(C), dbn(C), dbm(C);
    for (size_t i = 3; i < n; i += 97) yn[i] = std::nanf("");
    for (size_t i = 0; i < n; ++i) mn[i] = yn[i] <= 0.f ? 0.f : dy[i];
    B().batchnorm_backward(x.data(), mn.data(), gamma.data(), mean.data(), invstd.data(), dxm.data(), dgm.data(),
                           dbm.data(), N, C, HW, b);
    B().batchnorm_backward(x.data(), dy.data(), gamma.data(), mean.data(), invstd.data(), dxn.data(), dgn.data(),
                           dbn.data(), N, C, HW, b, yn.data());
    expect_close(dxn, dxm, 1e-6f, "dx, NaN in the mask");
    expect_close(dbn, dbm, 1e-6f, "dbeta, NaN in the mask");
    EXPECT_NE(dbn, dbr) << "the NaN positions changed what passes";
  }
}

// The strided 1x1 input gradient's own kernel: every value of dx written
// (zeros between the sampled grid), equal to im2col's; other geometries
// declined.
TEST(ChannelBlocks, StridedPointwiseInputGradientWritesAllOfDx) {
  for (int b : {8, 16}) {
    for (int stride : {2, 3}) {
      ConvGeometry g = make_conv_geometry(2, 2 * b, 13, 10, 3 * b, 1, 1, stride, stride, 0, 0);
      const std::vector<float> w = randv(size_t(g.K) * g.C, 51), dy = randv(size_t(g.N) * g.K * g.P * g.Q, 52);
      std::vector<float> dx0(size_t(g.N) * g.C * g.H * g.W);
      im2col_conv_backward(g, nullptr, w.data(), dy.data(), dx0.data(), nullptr, nullptr);
      ConvGeometry gb = g;
      gb.in_block = gb.out_block = b;
      ASSERT_TRUE(pointwise_strided_backward_data_applies(gb, b));
      std::vector<float> dx(dx0.size(), std::nanf(""));
      pointwise_strided_backward_data_blocked(gb, reorder(dy, g.N, g.K, g.P * g.Q, 1, b).data(), w.data(), dx.data());
      SCOPED_TRACE(::testing::Message() << "block " << b << " stride " << stride);
      expect_close(reorder(dx, g.N, g.C, g.H * g.W, b, 1), dx0, 1e-5f, "dx");
      EXPECT_FALSE(pointwise_strided_backward_data_applies(gb, b == 8 ? 16 : 8)) << "dy in another block";
      EXPECT_FALSE(pointwise_strided_backward_data_applies(g, 1)) << "NCHW";
    }
    ConvGeometry unit = make_conv_geometry(2, b, 8, 8, b, 1, 1, 1, 1, 0, 0);
    unit.in_block = unit.out_block = b;
    EXPECT_FALSE(pointwise_strided_backward_data_applies(unit, b)) << "stride 1 stays on oneDNN";
    ConvGeometry padded = make_conv_geometry(2, b, 8, 8, b, 1, 1, 2, 2, 1, 1);
    padded.in_block = padded.out_block = b;
    EXPECT_FALSE(pointwise_strided_backward_data_applies(padded, b)) << "padding";
    ConvGeometry three = make_conv_geometry(2, b, 8, 8, b, 3, 3, 2, 2, 1, 1);
    three.in_block = three.out_block = b;
    EXPECT_FALSE(pointwise_strided_backward_data_applies(three, b)) << "3x3";
  }
}

// The one-channel weight gradient read from a blocked dy (the first layer on
// grey images) equals im2col's on NCHW, with dilation, without a bias, and
// declines every other geometry.
TEST(ChannelBlocks, OneChannelWeightGradientFromBlockedDy) {
  for (int b : {8, 16}) {
    ConvGeometry g = make_conv_geometry(3, 1, 11, 10, 32, 3, 2, 1, 2, 2, 1, /*dil_h=*/2, /*dil_w=*/3);
    const std::vector<float> x = randv(size_t(g.N) * g.H * g.W, 41), dy = randv(size_t(g.N) * g.K * g.P * g.Q, 42);
    std::vector<float> dw0(size_t(g.K) * g.R * g.S), db0(g.K), dw(dw0.size(), 5.f), db(g.K, 5.f);
    im2col_conv_backward(g, x.data(), nullptr, dy.data(), nullptr, dw0.data(), db0.data());
    ConvGeometry gb = g;
    gb.out_block = b;
    const std::vector<float> dyb = reorder(dy, g.N, g.K, g.P * g.Q, 1, b);
    ASSERT_TRUE(one_channel_blocked_weight_gradient(gb, x.data(), dyb.data(), dw.data(), db.data()));
    SCOPED_TRACE(b);
    expect_close(dw, dw0, 1e-5f, "dw");
    expect_close(db, db0, 1e-5f, "db");
    std::fill(dw.begin(), dw.end(), 5.f);
    ASSERT_TRUE(one_channel_blocked_weight_gradient(gb, x.data(), dyb.data(), dw.data(), nullptr));
    expect_close(dw, dw0, 1e-5f, "dw without a bias");
    EXPECT_FALSE(one_channel_blocked_weight_gradient(g, x.data(), dy.data(), dw.data(), db.data())) << "NCHW dy";
    ConvGeometry two = make_conv_geometry(3, 2, 11, 10, 32, 3, 3, 1, 1, 1, 1);
    two.out_block = b;
    EXPECT_FALSE(one_channel_blocked_weight_gradient(two, x.data(), dy.data(), dw.data(), db.data()))
        << "two input channels";
  }
}

// A one-channel layer's convolution + ReLU + 2x2 max pooling in one op (the
// training fusion for grey first layers) equals the three ops: the same
// pooled output and argmax, and the weight and bias gradients of the
// scattered, ReLU-masked pooled gradient.
TEST(ChannelBlocks, FusedOneChannelConvReluPoolEqualsItsParts) {
  struct Case {
    int H, W, K, R, stride, pad;
    bool bias;
  };
  for (int b : {8, 16})
    for (Case c :
         {Case{12, 12, 32, 3, 1, 1, true}, Case{11, 13, 16, 5, 1, 2, false}, Case{15, 14, 16, 3, 2, 0, true}}) {
      ConvGeometry g = make_conv_geometry(3, 1, c.H, c.W, c.K, c.R, c.R, c.stride, c.stride, c.pad, c.pad);
      g.out_block = b;
      SCOPED_TRACE(::testing::Message() << "block " << b << " kernel " << c.R << " plane " << c.H << "x" << c.W);
      ASSERT_TRUE(B().fuses_conv_relu_maxpool(g) == (b == B().activation_channel_block(c.K)));
      const std::vector<float> x = randv(size_t(g.N) * g.H * g.W, 51), w = randv(size_t(g.K) * c.R * c.R, 52),
                               bias = randv(g.K, 53);
      const float* pb = c.bias ? bias.data() : nullptr;
      PoolGeometry pg = make_pool_geometry(g.N, g.K, g.P, g.Q, 2, 2, 2, 2, 0, 0);
      pg.block = b;
      const size_t ny = size_t(g.N) * g.K * pg.P * pg.Q, nconv = size_t(g.N) * g.K * g.P * g.Q;
      std::vector<float> conv(nconv), y0(ny), a0(ny), y(ny), a(ny);
      B().conv2d_forward_relu(g, x.data(), w.data(), pb, conv.data());
      B().maxpool2d_forward_argmax(pg, conv.data(), y0.data(), a0.data());
      B().conv2d_relu_maxpool_forward(g, x.data(), w.data(), pb, y.data(), a.data());
      expect_close(y, y0, 1e-5f, "pooled output");
      int zeros = 0;
      for (size_t i = 0; i < ny; ++i) zeros += y[i] == 0.f;
      EXPECT_GT(zeros, int(ny / 20)) << "the ReLU clipped whole windows";
      EXPECT_EQ(a, a0) << "argmax";
      const std::vector<float> dy = randv(ny, 54);
      std::vector<float> masked(ny), full(nconv), dw0(w.size()), db0(g.K), dw(w.size(), 3.f), db(g.K, 3.f);
      for (size_t i = 0; i < ny; ++i) masked[i] = y0[i] > 0.f ? dy[i] : 0.f;
      B().maxpool2d_backward_argmax(pg, a0.data(), masked.data(), full.data());
      B().conv2d_backward(g, x.data(), w.data(), full.data(), nullptr, dw0.data(), db0.data());
      B().conv2d_relu_maxpool_backward(g, x.data(), y.data(), a.data(), dy.data(), dw.data(),
                                       c.bias ? db.data() : nullptr);
      expect_close(dw, dw0, 1e-5f, "dw");
      if (c.bias) expect_close(db, db0, 1e-5f, "db");
    }
  ConvGeometry two = make_conv_geometry(3, 2, 12, 12, 16, 3, 3, 1, 1, 1, 1);
  two.out_block = 16;
  EXPECT_FALSE(B().fuses_conv_relu_maxpool(two)) << "two input channels";
}

// Blocks the vector kernels were not built for, and a fused call on a
// geometry the backend did not offer, are refused with an Error naming the
// op, never run on the wrong lanes.
TEST(ChannelBlocks, KernelsRefuseBlocksTheyWereNotBuiltFor) {
  const int N = 2, C = 8, H = 4, W = 4;
  const std::vector<float> x = randv(size_t(N) * C * H * W, 61);
  std::vector<float> y(x.size()), a(x.size()), mean(C), invstd(C), rm(C, 0.f), rv(C, 1.f), gamma(C, 1.f), beta(C, 0.f);
  PoolGeometry pg = make_pool_geometry(N, C, H, W, 2, 2, 2, 2, 0, 0);
  pg.block = 4;
  EXPECT_THROW(B().maxpool2d_forward_argmax(pg, x.data(), y.data(), a.data()), Error);
  EXPECT_THROW(B().maxpool2d_backward_argmax(pg, a.data(), y.data(), y.data()), Error);
  try {
    B().batchnorm_forward_train(x.data(), y.data(), gamma.data(), beta.data(), mean.data(), invstd.data(), rm.data(),
                                rv.data(), N, C, H * W, 0.1f, 1e-5f, 4);
    FAIL() << "batch norm ran on blocks of 4";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("channel block 4 of 8"), std::string::npos) << e.what();
  }
  ConvGeometry two = make_conv_geometry(N, 2, H, W, 16, 3, 3, 1, 1, 1, 1);
  two.out_block = 16;
  std::vector<float> w(16 * 2 * 9), out(size_t(N) * 16 * 4), arg(out.size());
  try {
    B().conv2d_relu_maxpool_forward(two, x.data(), w.data(), nullptr, out.data(), arg.data());
    FAIL() << "fused a two-channel layer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2d_relu_maxpool_forward"), std::string::npos) << e.what();
  }
}

// A one-channel first layer into a blocked output (our kernel, oneDNN's is
// slow there): every post-op, with and without bias, strides and padding,
// equal to im2col on NCHW; through the backend's dispatch and directly.
TEST(ChannelBlocks, OneChannelForwardIntoBlocksEqualsIm2col) {
  struct Case {
    int H, W, K, R, stride, pad;
  };
  for (int b : {8, 16})
    for (Case c :
         {Case{28, 28, 16, 3, 1, 1}, Case{13, 11, 32, 5, 2, 2}, Case{9, 12, 16, 3, 1, 0}, Case{7, 7, 8, 1, 1, 0}}) {
      if (c.K % b) continue;
      ConvGeometry g = make_conv_geometry(3, 1, c.H, c.W, c.K, c.R, c.R, c.stride, c.stride, c.pad, c.pad);
      const std::vector<float> x = randv(size_t(g.N) * g.H * g.W, 61), w = randv(size_t(g.K) * g.R * g.S, 62),
                               bias = randv(size_t(g.K), 63);
      ConvGeometry gb = g;
      gb.out_block = b;
      const size_t ny = size_t(g.N) * g.K * g.P * g.Q;
      for (const float* pb : {bias.data(), static_cast<const float*>(nullptr)})
        for (ConvPost post : {ConvPost::None, ConvPost::ReLU, ConvPost::ReLU6}) {
          std::vector<float> ref(ny);
          im2col_conv_forward(g, x.data(), w.data(), pb, ref.data());
          for (float& v : ref) {
            if (post != ConvPost::None) v = std::max(v, 0.f);
            if (post == ConvPost::ReLU6) v = std::min(v, 6.f);
          }
          SCOPED_TRACE(::testing::Message()
                       << "block " << b << " " << c.H << "x" << c.W << " K " << c.K << " R " << c.R << " stride "
                       << c.stride << " bias " << (pb != nullptr) << " post " << int(post));
          std::vector<float> y(ny, std::nanf(""));
          ASSERT_TRUE(one_channel_blocked_forward(gb, x.data(), w.data(), pb, post, y.data()));
          expect_close(reorder(y, g.N, g.K, g.P * g.Q, b, 1), ref, 1e-5f, "kernel");
          std::vector<float> via(ny, std::nanf(""));
          if (post == ConvPost::None)
            B().conv2d_forward(gb, x.data(), w.data(), pb, via.data());
          else if (post == ConvPost::ReLU)
            B().conv2d_forward_relu(gb, x.data(), w.data(), pb, via.data());
          else
            B().conv2d_forward_relu6(gb, x.data(), w.data(), pb, via.data());
          expect_close(reorder(via, g.N, g.K, g.P * g.Q, b, 1), ref, 1e-5f, "dispatch");
        }
    }
  ConvGeometry plain = make_conv_geometry(2, 1, 8, 8, 16, 3, 3, 1, 1, 1, 1);
  std::vector<float> y(size_t(2) * 16 * 64);
  const std::vector<float> x = randv(128, 1), w = randv(144, 2);
  EXPECT_FALSE(one_channel_blocked_forward(plain, x.data(), w.data(), nullptr, ConvPost::None, y.data()))
      << "NCHW output";
  ConvGeometry two = make_conv_geometry(2, 2, 8, 8, 16, 3, 3, 1, 1, 1, 1);
  two.out_block = 16;
  EXPECT_FALSE(one_channel_blocked_forward(two, x.data(), w.data(), nullptr, ConvPost::None, y.data()))
      << "two input channels";
}
