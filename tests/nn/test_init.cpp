// Initialisation: statistics as torch.nn.init defines them, layer defaults.
#include <cmath>

#include "core/nn/init.h"
#include "core/tensor/error.h"
#include "core/nn/layer_factory.h"
#include "nn_test_util.h"

namespace perceptra {
namespace {

struct Stats {
  double mean = 0, std = 0, max_abs = 0;
};
Stats stats(const Tensor& t) {
  std::vector<float> v = t.to_vector();
  Stats s;
  for (float x : v) {
    s.mean += x;
    s.max_abs = std::max(s.max_abs, static_cast<double>(std::abs(x)));
  }
  s.mean /= v.size();
  for (float x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / v.size());
  return s;
}

TEST(Init, Gains) {
  EXPECT_FLOAT_EQ(calculate_gain(Nonlinearity::ReLU), std::sqrt(2.f));
  EXPECT_FLOAT_EQ(calculate_gain(Nonlinearity::Tanh), 5.f / 3.f);
  EXPECT_FLOAT_EQ(calculate_gain(Nonlinearity::Linear), 1.f);
  EXPECT_FLOAT_EQ(calculate_gain(Nonlinearity::LeakyReLU, 0.2f), std::sqrt(2.f / 1.04f));
  EXPECT_FLOAT_EQ(calculate_gain(Nonlinearity::LeakyReLU, std::sqrt(5.f)), std::sqrt(1.f / 3.f));
}

TEST(Init, Fans) {
  Fans f = compute_fans({64, 32, 3, 3});
  EXPECT_EQ(f.fan_in, 288);
  EXPECT_EQ(f.fan_out, 576);
  f = compute_fans({10, 784});
  EXPECT_EQ(f.fan_in, 784);
  EXPECT_EQ(f.fan_out, 10);
}

TEST(Init, KaimingAndXavierStatistics) {
  Rng rng(9);
  Tensor w = Tensor::empty({256, 128, 3, 3});  // fan_in 1152, fan_out 2304
  kaiming_normal(w, rng, 0.f, FanMode::FanIn, Nonlinearity::ReLU);
  Stats s = stats(w);
  EXPECT_NEAR(s.mean, 0, 1e-3);
  EXPECT_NEAR(s.std, std::sqrt(2.0 / 1152), 0.01 * std::sqrt(2.0 / 1152));
  kaiming_normal(w, rng, 0.f, FanMode::FanOut, Nonlinearity::ReLU);
  EXPECT_NEAR(stats(w).std, std::sqrt(2.0 / 2304), 0.01 * std::sqrt(2.0 / 2304));
  kaiming_uniform(w, rng, 0.2f, FanMode::FanIn, Nonlinearity::LeakyReLU);
  double bound = std::sqrt(3.0) * std::sqrt(2.0 / 1.04) / std::sqrt(1152.0);
  s = stats(w);
  EXPECT_LE(s.max_abs, bound);
  EXPECT_GT(s.max_abs, 0.99 * bound);
  EXPECT_NEAR(s.std, bound / std::sqrt(3.0), 0.01 * bound);
  xavier_uniform(w, rng);
  bound = std::sqrt(6.0 / (1152 + 2304));
  s = stats(w);
  EXPECT_LE(s.max_abs, bound);
  EXPECT_GT(s.max_abs, 0.99 * bound);
  xavier_normal(w, rng, 2.f);
  EXPECT_NEAR(stats(w).std, 2.0 * std::sqrt(2.0 / 3456), 0.02 * std::sqrt(2.0 / 3456));
}

TEST(Init, LayerDefaultsFollowPyTorch) {
  Rng rng(11);
  // nn.Linear / nn.Conv2d: U(+-1/sqrt(fan_in)) for weight and bias.
  LayerPtr fc = make_layer({{"type", "linear"}, {"out_features", 300}}, {1, 400}, "fc");
  fc->reset_parameters(rng);
  auto p = fc->parameters();
  double bound = 1.0 / std::sqrt(400.0);
  Stats w = stats(p[0]->value), b = stats(p[1]->value);
  EXPECT_LE(w.max_abs, bound);
  EXPECT_GT(w.max_abs, 0.99 * bound);
  EXPECT_LE(b.max_abs, bound);
  EXPECT_GT(b.std, 0.3 * bound);
  LayerPtr conv = make_layer({{"type", "conv2d"}, {"out_channels", 64}, {"kernel", 3}}, {1, 32, 8, 8}, "conv");
  conv->reset_parameters(rng);
  bound = 1.0 / std::sqrt(288.0);
  w = stats(conv->parameters()[0]->value);
  EXPECT_LE(w.max_abs, bound);
  EXPECT_GT(w.max_abs, 0.99 * bound);
  // Kaiming normal (fan_out, relu) with zero bias when asked for.
  LayerPtr kc = make_layer({{"type", "conv2d"}, {"out_channels", 64}, {"kernel", 3}, {"init", "kaiming_normal"}},
                           {1, 32, 8, 8}, "conv");
  kc->reset_parameters(rng);
  EXPECT_NEAR(stats(kc->parameters()[0]->value).std, std::sqrt(2.0 / 576), 0.05 * std::sqrt(2.0 / 576));
  EXPECT_EQ(stats(kc->parameters()[1]->value).max_abs, 0.0);
  EXPECT_EQ(kc->args()["init"], "kaiming_normal");
  // BatchNorm: gamma 1, beta 0, running mean 0, var 1.
  LayerPtr bn = make_layer({{"type", "batchnorm2d"}}, {1, 4, 2, 2}, "bn");
  bn->reset_parameters(rng);
  auto bp = bn->parameters();
  EXPECT_EQ(bp[0]->value.to_vector(), std::vector<float>(4, 1.f));
  EXPECT_EQ(bp[1]->value.to_vector(), std::vector<float>(4, 0.f));
  EXPECT_EQ(bp[2]->value.to_vector(), std::vector<float>(4, 0.f));
  EXPECT_EQ(bp[3]->value.to_vector(), std::vector<float>(4, 1.f));
  EXPECT_THROW(make_layer({{"type", "linear"}, {"out_features", 3}, {"init", "magic"}}, {1, 4}, "fc"), InputError);
}

}  // namespace
}  // namespace perceptra
