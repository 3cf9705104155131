// int8 arithmetic and the CPU int8 primitives: quantise/dequantise round
// trips, per-channel scales, calibration thresholds, int8 convolution and
// linear against naive integer references (exact s32 accumulation), and the
// fused requantisation against a naive one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/backend/cpu/cpu_int8.h"
#include "core/quant/calibration.h"
#include "core/quant/quantize.h"

using namespace perceptra;
using namespace perceptra::quant;

TEST(QuantArithmetic, RoundsHalfToEvenSaturatesAndKeepsZeroExact) {
  EXPECT_EQ(quantize_value(0.5f, 1.f, false), 0);
  EXPECT_EQ(quantize_value(1.5f, 1.f, false), 2);
  EXPECT_EQ(quantize_value(2.5f, 1.f, false), 2);
  EXPECT_EQ(quantize_value(-2.5f, 1.f, true), -2);
  EXPECT_EQ(quantize_value(300.f, 1.f, false), 255);
  EXPECT_EQ(quantize_value(-3.f, 1.f, false), 0);
  EXPECT_EQ(quantize_value(-300.f, 1.f, true), -127);  // symmetric: never -128
  EXPECT_EQ(quantize_value(0.f, 0.0371f, true), 0);
  EXPECT_EQ(dequantize_value(quantize_value(0.f, 0.0371f, false), 0.0371f), 0.f);
}

TEST(QuantArithmetic, ActivationRoundTripErrorIsAtMostHalfAStep) {
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(-4.f, 4.f);
  const float scale = activation_scale(4.f, true);
  EXPECT_FLOAT_EQ(scale, 4.f / 127.f);
  std::vector<float> x(1000), y;
  for (auto& v : x) v = u(gen);
  y = x;
  fake_quantize(y, scale, true);
  for (size_t i = 0; i < x.size(); ++i) EXPECT_LE(std::fabs(x[i] - y[i]), scale * 0.5f + 1e-6f);
  // Values on the grid come back exactly; a second round trip changes nothing.
  std::vector<float> z = y;
  fake_quantize(z, scale, true);
  EXPECT_EQ(z, y);
}

TEST(QuantArithmetic, PerChannelScalesFollowEachChannelsRange) {
  // Three output channels whose magnitudes differ by 10^4: one scale per
  // channel keeps every channel to 1/126 of its own range; a single scale
  // would round the small channel to zero.
  const int K = 3, per = 50;
  std::vector<float> w(size_t(K * per));
  const float mag[K] = {1e-3f, 1.f, 10.f};
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int k = 0; k < K; ++k)
    for (int i = 0; i < per; ++i) w[size_t(k * per + i)] = mag[k] * u(gen);
  w[0] = mag[0];  // the channel maximum is known exactly
  ChannelQuantized q = quantize_per_channel(w, K);
  ASSERT_EQ(q.scales.size(), size_t(K));
  EXPECT_FLOAT_EQ(q.scales[0], mag[0] / 63.f);
  EXPECT_EQ(q.values[0], 63);
  std::vector<float> back = dequantize_per_channel(q);
  for (int k = 0; k < K; ++k) {
    float maxabs = 0;
    for (int i = 0; i < per; ++i) maxabs = std::max(maxabs, std::fabs(w[size_t(k * per + i)]));
    EXPECT_NEAR(q.scales[size_t(k)], maxabs / 63.f, 1e-9f);
    int nonzero = 0;
    for (int i = 0; i < per; ++i) {
      const size_t j = size_t(k * per + i);
      EXPECT_LE(std::fabs(back[j] - w[j]), q.scales[size_t(k)] * 0.5f + 1e-9f);
      EXPECT_GE(q.values[j], -kWeightLevels);
      EXPECT_LE(q.values[j], kWeightLevels);
      nonzero += q.values[j] != 0;
    }
    EXPECT_GT(nonzero, per / 2) << "channel " << k;
  }
  // A channel of zeros stays zeros (scale 1, no division by zero).
  ChannelQuantized z = quantize_per_channel(std::vector<float>(8, 0.f), 2);
  EXPECT_EQ(z.scales, std::vector<float>({1.f, 1.f}));
  for (auto v : z.values) EXPECT_EQ(v, 0);
}

TEST(QuantCalibration, MethodsPickTheExpectedThresholds) {
  // 100,000 values in [0, 1] plus one outlier at 50.
  std::vector<float> x(100000);
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (auto& v : x) v = u(gen);
  x[123] = 50.f;
  auto threshold = [&](CalibrationMethod m) {
    RangeObserver r;
    r.observe_range(x.data(), x.size());
    r.observe_histogram(x.data(), x.size());
    EXPECT_FALSE(r.has_negative());
    return r.threshold(m, 255);
  };
  EXPECT_FLOAT_EQ(threshold(CalibrationMethod::MinMax), 50.f);
  const float p = threshold(CalibrationMethod::Percentile);
  EXPECT_GT(p, 0.99f);
  EXPECT_LT(p, 1.1f);  // the outlier is clipped
  const float e = threshold(CalibrationMethod::Entropy);
  EXPECT_GT(e, 0.9f);
  EXPECT_LT(e, 5.f);
  EXPECT_EQ(parse_calibration_method("entropy"), CalibrationMethod::Entropy);
  EXPECT_THROW(parse_calibration_method("kl"), InputError);
}

namespace {

// Naive NHWC convolution in int32, the reference for the int8 primitive.
std::vector<int32_t> naive_conv(const ConvGeometry& g, int N, const std::vector<int>& src,
                                const std::vector<int8_t>& w) {
  std::vector<int32_t> out(size_t(N) * g.P * g.Q * g.K, 0);
  for (int n = 0; n < N; ++n)
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q)
        for (int k = 0; k < g.K; ++k) {
          int32_t acc = 0;
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.R; ++r)
              for (int s = 0; s < g.S; ++s) {
                const int h = p * g.stride_h - g.pad_h + r * g.dil_h;
                const int x = q * g.stride_w - g.pad_w + s * g.dil_w;
                if (h < 0 || h >= g.H || x < 0 || x >= g.W) continue;
                acc += src[((size_t(n) * g.H + h) * g.W + x) * g.C + c] *
                       int32_t(w[((size_t(k) * g.C + c) * g.R + r) * g.S + s]);
              }
          out[((size_t(n) * g.P + p) * g.Q + q) * g.K + k] = acc;
        }
  return out;
}

struct ConvCase {
  bool src_signed;
  int stride, pad;
};

class Int8Conv : public ::testing::TestWithParam<ConvCase> {};

}  // namespace

TEST_P(Int8Conv, AccumulatesExactlyAndRequantisesLikeTheNaiveReference) {
  const ConvCase cc = GetParam();
  const int N = 3;
  ConvGeometry g = make_conv_geometry(1, 16, 9, 9, 24, 3, 3, cc.stride, cc.stride, cc.pad, cc.pad);
  std::mt19937 gen(11);
  std::uniform_int_distribution<int> us(cc.src_signed ? -127 : 0, cc.src_signed ? 127 : 255);
  std::uniform_int_distribution<int> uw(-kWeightLevels, kWeightLevels);
  std::vector<int> src(size_t(N) * g.H * g.W * g.C);
  for (auto& v : src) v = us(gen);
  std::vector<uint8_t> bytes(src.size());
  for (size_t i = 0; i < src.size(); ++i) bytes[i] = uint8_t(int8_t(src[i]));
  std::vector<int8_t> w(size_t(g.K) * g.C * g.R * g.S);
  for (auto& v : w) v = int8_t(uw(gen));
  const std::vector<int32_t> ref = naive_conv(g, N, src, w);

  // Scale 1, no bias, float output: the s32 accumulator itself (|acc| <
  // 2^24, so the float holds it exactly).
  int8::ConvInt8Spec s;
  s.g = g;
  s.src_signed = cc.src_signed;
  s.dst_u8 = false;
  s.scales.assign(size_t(g.K), 1.f);
  s.weights = w;
  int8::ConvInt8 exact(s);
  std::vector<float> acc(ref.size());
  exact.run(N, bytes.data(), acc.data());
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(acc[i], float(ref[i])) << "at " << i;

  // Per-channel scales, bias, ReLU and u8 output fused in the primitive vs
  // the same steps written out: round(relu(scale[k] * (acc + bias[k]))).
  s.dst_u8 = true;
  s.relu = true;
  std::uniform_real_distribution<float> ub(-3000.f, 3000.f), usc(2e-5f, 4e-4f);
  s.bias.resize(size_t(g.K));
  for (int k = 0; k < g.K; ++k) {
    s.scales[size_t(k)] = usc(gen);
    s.bias[size_t(k)] = ub(gen);
  }
  int8::ConvInt8 fused(s);
  std::vector<uint8_t> y(ref.size());
  fused.run(N, bytes.data(), y.data());
  size_t mismatch = 0, zeros = 0, saturated = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const int k = int(i % size_t(g.K));
    float v = s.scales[size_t(k)] * (float(ref[i]) + s.bias[size_t(k)]);
    v = std::max(v, 0.f);
    const int want = int(std::min(255.f, std::nearbyint(v)));
    const int diff = std::abs(int(y[i]) - want);
    ASSERT_LE(diff, 1) << "at " << i;  // float rounding order may differ by one level
    mismatch += diff != 0;
    zeros += want == 0;
    saturated += want == 255;
  }
  EXPECT_LE(mismatch, ref.size() / 1000);
  EXPECT_GT(zeros, 0u);  // the ReLU and the
  EXPECT_GT(zeros, ref.size() / 20);
  EXPECT_LT(zeros + saturated, ref.size());  // the interesting middle is exercised
}

INSTANTIATE_TEST_SUITE_P(Cases, Int8Conv,
                         ::testing::Values(ConvCase{false, 1, 1}, ConvCase{true, 1, 1}, ConvCase{false, 2, 1},
                                           ConvCase{false, 1, 0}));

TEST(Int8Linear, AccumulatesExactlyAndRequantises) {
  for (bool is_signed : {false, true}) {
    const int N = 5, in = 300, out = 17;
    std::mt19937 gen(13);
    std::uniform_int_distribution<int> us(is_signed ? -127 : 0, is_signed ? 127 : 255),
        uw(-kWeightLevels, kWeightLevels);
    std::vector<int> x(size_t(N * in));
    std::vector<uint8_t> bytes(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = us(gen);
      bytes[i] = uint8_t(int8_t(x[i]));
    }
    std::vector<int8_t> w(size_t(out * in));
    for (auto& v : w) v = int8_t(uw(gen));
    std::vector<int32_t> ref(size_t(N * out));
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < out; ++o) {
        int32_t a = 0;
        for (int i = 0; i < in; ++i) a += x[size_t(n * in + i)] * int32_t(w[size_t(o * in + i)]);
        ref[size_t(n * out + o)] = a;
      }
    int8::LinearInt8Spec s;
    s.in = in;
    s.out = out;
    s.src_signed = is_signed;
    s.dst_u8 = false;
    s.scales.assign(size_t(out), 1.f);
    s.weights = w;
    int8::LinearInt8 exact(s);
    std::vector<float> acc(ref.size());
    exact.run(N, bytes.data(), acc.data());
    for (size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(acc[i], float(ref[i])) << "signed " << is_signed;

    s.dst_u8 = true;
    s.relu = true;
    s.bias.resize(size_t(out));
    for (int o = 0; o < out; ++o) {
      s.scales[size_t(o)] = 1e-3f * float(o + 1);
      s.bias[size_t(o)] = float(o * 500 - 4000);
    }
    int8::LinearInt8 fused(s);
    std::vector<uint8_t> y(ref.size());
    fused.run(N, bytes.data(), y.data());
    for (size_t i = 0; i < ref.size(); ++i) {
      const int o = int(i % size_t(out));
      const float v = std::max(0.f, s.scales[size_t(o)] * (float(ref[i]) + s.bias[size_t(o)]));
      EXPECT_LE(std::abs(int(y[i]) - int(std::min(255.f, std::nearbyint(v)))), 1);
    }
  }
}

TEST(Int8Helpers, LayoutConversionsPoolingAndJoinMatchReferences) {
  const int N = 2, C = 3, H = 4, W = 4, HW = H * W;
  std::vector<float> x(size_t(N * C * HW));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 23) - 5) * 0.1f;
  std::vector<uint8_t> q(x.size());
  int8::quantize_nchw_to_nhwc(x.data(), N, C, HW, 0.1f, true, q.data());
  std::vector<float> back(x.size());
  int8::dequantize_nhwc_to_nchw(q.data(), true, N, C, HW, 0.1f, back.data());
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(back[i], x[i], 1e-6f);
  // NHWC: element (n, c, p) lands at (n*HW + p)*C + c.
  EXPECT_EQ(int8_t(q[size_t((1 * HW + 5) * C + 2)]), quantize_value(x[size_t((1 * C + 2) * HW + 5)], 0.1f, true));

  std::vector<uint8_t> u(size_t(N * HW * C));
  for (size_t i = 0; i < u.size(); ++i) u[i] = uint8_t((i * 37) % 251);
  PoolGeometry pg = make_pool_geometry(N, C, H, W, 2, 2, 2, 2, 0, 0);
  std::vector<uint8_t> pooled(size_t(N * pg.P * pg.Q * C));
  int8::maxpool_u8_nhwc(u.data(), pg, pooled.data());
  for (int n = 0; n < N; ++n)
    for (int p = 0; p < pg.P; ++p)
      for (int qq = 0; qq < pg.Q; ++qq)
        for (int c = 0; c < C; ++c) {
          uint8_t m = 0;
          for (int r = 0; r < 2; ++r)
            for (int s = 0; s < 2; ++s) m = std::max(m, u[size_t(((n * H + 2 * p + r) * W + 2 * qq + s) * C + c)]);
          EXPECT_EQ(pooled[size_t(((n * pg.P + p) * pg.Q + qq) * C + c)], m);
        }
  std::vector<float> gap(size_t(N * C));
  int8::global_avgpool_u8_nhwc(u.data(), N, C, HW, 0.5f, gap.data());
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c) {
      double s = 0;
      for (int p = 0; p < HW; ++p) s += u[size_t((n * HW + p) * C + c)];
      EXPECT_NEAR(gap[size_t(n * C + c)], 0.5 * s / HW, 1e-4);
    }
  std::vector<float> main(u.size());
  for (size_t i = 0; i < main.size(); ++i) main[i] = float(int(i % 7) - 3);
  std::vector<uint8_t> joined(u.size());
  int8::residual_join_nhwc(main.data(), u.data(), false, 0.02f, nullptr, u.size(), true, 0.05f, joined.data(), nullptr);
  for (size_t i = 0; i < u.size(); ++i) {
    const float v = std::max(0.f, main[i] + 0.02f * u[i]);
    EXPECT_EQ(joined[i], quantize_value(v, 0.05f, false));
  }
}
