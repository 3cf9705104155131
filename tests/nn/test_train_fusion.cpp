// Training forward with conv + ReLU fused (core/nn/train_fusion.h), and with
// activations kept channel-blocked between layers (Tensor::channel_block),
// must give the outputs and every gradient of the layer-by-layer forward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_profile.h"
#include "core/backend/cpu/cpu_winograd.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/model.h"
#include "core/nn/train_fusion.h"
#include "nn_test_util.h"
#include "tests/core/cpu_test_util.h"

using namespace perceptra;
using nlohmann::json;

namespace {

struct Pass {
  std::vector<float> out, dx;
  std::vector<std::vector<float>> grads;
};

// One training forward + backward of a fresh model (same seed each time).
Pass run(const json& spec, const Shape& in, bool fused, bool input_grad, bool blocked = true, float perturb = 0.f) {
  set_training_fusion(fused);
  set_cpu_blocked_activations(blocked);
  Rng rng(11);
  auto m = Model::from_spec(spec, rng);
  Tensor x = perceptra::testing::random_tensor({6, in[0], in[1], in[2]}, rng, 2.f);
  if (perturb != 0.f) {  // every input value times (1 + perturb)
    std::vector<float> v = x.to_vector();
    for (float& e : v) e *= 1.f + perturb;
    x = Tensor::from_vector(x.shape(), v);
  }
  Pass p;
  Tensor y = m->forward(x, true);
  p.out = y.to_vector();
  // A gradient with both signs everywhere, so ReLU masks matter.
  Tensor g = perceptra::testing::random_tensor(y.shape(), rng, 1.f);
  Tensor dx = m->backward(g, input_grad);
  if (input_grad) p.dx = dx.to_vector();
  for (Parameter* q : m->parameters())
    if (q->trainable) p.grads.push_back(q->grad.to_vector());
  set_training_fusion(true);
  set_cpu_blocked_activations(true);
  return p;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, const std::string& what,
                  double tol = 1e-6) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 0;
  for (float v : b) scale = std::max(scale, double(std::abs(v)));
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], tol * (1 + scale)) << what << " [" << i << "]";
}

// Blocked against NCHW: the same sums in another order (batch norm's per
// channel sums, oneDNN's kernels for another layout), so float tolerance.
void expect_same_blocked_training(const json& spec, const Shape& in, const std::string& what) {
  for (bool input_grad : {false, true}) {
    Pass plain = run(spec, in, true, input_grad, false), blocked = run(spec, in, true, input_grad, true);
    expect_close(blocked.out, plain.out, what + " output", 2e-5);
    expect_close(blocked.dx, plain.dx, what + " dx", 2e-5);
    ASSERT_EQ(blocked.grads.size(), plain.grads.size());
    for (size_t k = 0; k < plain.grads.size(); ++k)
      expect_close(blocked.grads[k], plain.grads[k], what + " grad " + std::to_string(k), 2e-5);
  }
}

// All of a pass's values in one list.
std::vector<float> flat(const Pass& p) {
  std::vector<float> v = p.out;
  v.insert(v.end(), p.dx.begin(), p.dx.end());
  for (const auto& g : p.grads) v.insert(v.end(), g.begin(), g.end());
  return v;
}
double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::abs(a[i] - b[i])));
  return m;
}

// Deep models at 28x28 and batch 6 end on 1x1 planes whose batch norms see 6
// values: rounding differences grow through dozens of them (an input scaled
// by 1 + 1e-6 moved MobileNetV2's gradients by 1.3 % of their largest).
// There the blocked layout may differ from NCHW by no more than such an
// input change does.
void expect_blocked_within_rounding_noise(const json& spec, const Shape& in, const std::string& what) {
  const Pass plain = run(spec, in, true, true, false), blocked = run(spec, in, true, true, true),
             nudged = run(spec, in, true, true, false, 1e-6f);
  const std::vector<float> p = flat(plain), b = flat(blocked), n = flat(nudged);
  ASSERT_EQ(p.size(), b.size());
  double scale = 0;
  for (float v : p) scale = std::max(scale, double(std::abs(v)));
  EXPECT_LE(max_diff(b, p), 4 * max_diff(n, p) + 1e-5 * scale) << what;
}

void expect_same_training(const json& spec, const Shape& in, const std::string& what) {
  for (bool input_grad : {false, true}) {
    Pass plain = run(spec, in, false, input_grad), fused = run(spec, in, true, input_grad);
    expect_close(fused.out, plain.out, what + " output");
    expect_close(fused.dx, plain.dx, what + " dx");
    ASSERT_EQ(fused.grads.size(), plain.grads.size());
    for (size_t k = 0; k < plain.grads.size(); ++k)
      expect_close(fused.grads[k], plain.grads[k], what + " grad " + std::to_string(k));
  }
}

json conv(int k, int stride = 1, bool bias = true, int groups = 1) {
  return {{"type", "conv2d"}, {"out_channels", k}, {"kernel", 3},     {"padding", 1},
          {"stride", stride}, {"bias", bias},      {"groups", groups}};
}
json layer(const std::string& t) { return {{"type", t}}; }

}  // namespace

TEST(TrainFusion, BuiltinsTrainAsLayerByLayer) {
  for (const auto& name : Model::builtin_names())
    expect_same_training(Model::builtin_spec(name, {1, 28, 28}, 10), {1, 28, 28}, name);
}

TEST(TrainFusion, ConvReluStacks) {
  const Shape in{4, 12, 12};
  auto spec = [&](json layers) {
    return json{{"name", "t"}, {"input", in.dims()}, {"classes", 5}, {"layers", layers}};
  };
  // Consecutive fused pairs, no bias, strided, grouped, a ReLU that is not
  // after a conv, a conv without a ReLU, and a final conv + ReLU before the head.
  expect_same_training(spec({conv(8),
                             layer("relu"),
                             conv(8, 1, false),
                             layer("relu"),
                             layer("maxpool2d"),
                             conv(8, 2, true, 2),
                             layer("relu"),
                             layer("relu"),
                             conv(6),
                             layer("global_avgpool"),
                             {{"type", "linear"}, {"out_features", 5}}}),
                       in, "stack");
  expect_same_training(spec({conv(8),
                             layer("batchnorm2d"),
                             layer("relu"),
                             conv(8),
                             layer("relu"),
                             layer("flatten"),
                             {{"type", "linear"}, {"out_features", 5}}}),
                       in, "conv-bn-relu then conv-relu");
}

// The fused ReLU's mask must come from the fused output: a ReLU that kept a
// stale input from an earlier step would pass gradients it must block.
TEST(TrainFusion, ReluMaskFollowsEachStep) {
  const Shape in{2, 8, 8};
  json spec{{"name", "t"},
            {"input", in.dims()},
            {"classes", 3},
            {"layers", {conv(4), layer("relu"), layer("flatten"), {{"type", "linear"}, {"out_features", 3}}}}};
  for (bool fused : {false, true}) {
    set_training_fusion(fused);
    Rng rng(5);
    auto m = Model::from_spec(spec, rng);
    Tensor a = perceptra::testing::random_tensor({3, 2, 8, 8}, rng, 2.f);
    Tensor b = perceptra::testing::random_tensor({3, 2, 8, 8}, rng, 2.f);
    m->forward(a, true);
    Tensor y = m->forward(b, true);
    Tensor dxb = m->backward(Tensor::from_vector(y.shape(), std::vector<float>(9, 1.f)), true);
    // Reference: only b, on a fresh copy.
    Rng rng2(5);
    auto r = Model::from_spec(spec, rng2);
    r->forward(b, true);
    Tensor dxr = r->backward(Tensor::from_vector(y.shape(), std::vector<float>(9, 1.f)), true);
    EXPECT_EQ(dxb.to_vector(), dxr.to_vector()) << (fused ? "fused" : "plain");
  }
  set_training_fusion(true);
}

// Channel-blocked training activations: where the CPU offers a block, the
// builtins and mixed stacks (residual blocks with identity and projection
// shortcuts, a branch with a layer that takes only NCHW, channels that are
// not whole blocks, pooling and flattening after blocked layers) train as
// on NCHW, and the blocked layout really is what a training convolution
// writes.
TEST(TrainFusion, BlockedActivationsTrainAsNchw) {
  const int b = cpu_backend().activation_channel_block(64);
  if (b == 1) GTEST_SKIP() << "this CPU's oneDNN convolutions use no channel-blocked layout (neither AVX2 nor AVX-512)";
  Conv2dOptions o;
  o.in_channels = 3;
  o.out_channels = 2 * b;
  Conv2d c(o);
  Rng rng(3);
  c.reset_parameters(rng);
  Tensor x = perceptra::testing::random_tensor({2, 3, 6, 6}, rng, 1.f);
  EXPECT_EQ(c.forward(x, true).channel_block(), b);
  EXPECT_EQ(c.forward(x, false).channel_block(), 1) << "evaluation outputs stay NCHW";
  set_cpu_blocked_activations(false);
  EXPECT_EQ(c.forward(x, true).channel_block(), 1);
  set_cpu_blocked_activations(true);

  // Only blocked tensors run our Winograd kernels (all passes on AVX2, the
  // forwards of the AVX-512 rule), NCHW ones oneDNN's direct kernels:
  // F(4x4)'s rounding (~1e-5 of the scale) flips a few ReLU masks and moves
  // early layers' gradients by up to 0.4 % of their largest, which no input
  // nudge does (batch norm cancels a scaled input). Layouts are compared
  // here with the same kernels on both sides; our kernels against direct
  // ones in CpuBackend.Winograd*.
  const test::WinogradRestore restore_winograd;
  set_cpu_winograd(WinogradUse::Off);
  for (const auto& name : Model::builtin_names()) {
    const json s = Model::builtin_spec(name, {1, 28, 28}, 10);
    const bool noisy = name != "mlp" && name != "lenet5" && name != "simplecnn" && name != "resnet-small";
    if (noisy)
      expect_blocked_within_rounding_noise(s, {1, 28, 28}, name);
    else
      expect_same_blocked_training(s, {1, 28, 28}, name);
  }
  const Shape in{3, 12, 12};
  auto spec = [&](json layers) {
    return json{{"name", "t"}, {"input", in.dims()}, {"classes", 5}, {"layers", layers}};
  };
  auto block = [](json layers, const std::string& shortcut = "auto") {
    return json{{"type", "residual"}, {"layers", layers}, {"shortcut", shortcut}};
  };
  expect_same_blocked_training(
      spec({conv(16),
            layer("batchnorm2d"),
            layer("relu"),
            block({conv(16), layer("batchnorm2d"), layer("relu"), conv(16), layer("batchnorm2d")}),
            block({conv(32, 2), layer("batchnorm2d"), layer("relu"), layer("dropout"), conv(32), layer("batchnorm2d")}),
            block({conv(32), layer("batchnorm2d")}, "projection"),
            conv(12),
            layer("batchnorm2d"),
            layer("relu"),
            conv(16, 1, true, 4),
            layer("relu"),
            layer("maxpool2d"),
            layer("global_avgpool"),
            {{"type", "linear"}, {"out_features", 5}}}),
      in, "residual stack");
  expect_same_blocked_training(spec({conv(16),
                                     layer("relu"),
                                     block({layer("maxpool2d"), conv(16)}, "projection"),
                                     layer("flatten"),
                                     {{"type", "linear"}, {"out_features", 5}}}),
                               in, "a branch that starts on NCHW");
}

// A residual branch ending in a batch norm writes the block's sum (and its
// ReLU) in that batch norm's pass: identity and projection shortcuts, with
// and without the block's ReLU, blocked and NCHW, train as layer by layer,
// and the fused forward runs no separate add or activation.
TEST(TrainFusion, ResidualSumRunsInTheLastBatchNorm) {
  const Shape in{3, 10, 10};
  auto block = [](json layers, const std::string& shortcut, const std::string& act) {
    return json{{"type", "residual"}, {"layers", layers}, {"shortcut", shortcut}, {"activation", act}};
  };
  const json spec{
      {"name", "t"},
      {"input", in.dims()},
      {"classes", 4},
      {"layers",
       {conv(16),
        layer("batchnorm2d"),
        layer("relu"),
        block({conv(16), layer("batchnorm2d"), layer("relu"), conv(16), layer("batchnorm2d")}, "auto", "relu"),
        block({conv(32, 2), layer("batchnorm2d")}, "auto", "none"),
        block({conv(32), layer("batchnorm2d")}, "projection", "relu"),
        block({conv(32), layer("batchnorm2d"), layer("relu")}, "identity", "relu"),
        layer("global_avgpool"),
        {{"type", "linear"}, {"out_features", 4}}}}};
  expect_same_training(spec, in, "residual sums");
  for (bool blocked : {false, true})
    for (bool input_grad : {false, true}) {
      Pass plain = run(spec, in, false, input_grad, blocked), fused = run(spec, in, true, input_grad, blocked);
      const std::string what = blocked ? "blocked" : "NCHW";
      expect_close(fused.out, plain.out, what + " output", 1e-5);
      expect_close(fused.dx, plain.dx, what + " dx", 1e-5);
      for (size_t k = 0; k < plain.grads.size(); ++k)
        expect_close(fused.grads[k], plain.grads[k], what + " grad " + std::to_string(k), 1e-5);
    }
  for (bool fused : {true, false}) {
    set_training_fusion(fused);
    Rng rng(3);
    auto m = Model::from_spec(spec, rng);
    Tensor x = perceptra::testing::random_tensor({4, 3, 10, 10}, rng, 1.f);
    cpu_profile_enable(true);
    cpu_profile_take();
    Tensor y = m->forward(x, true);
    int64_t adds = 0, activations = 0;
    for (const CpuOpStat& s : cpu_profile_take()) {
      if (s.name == "elementwise") adds = s.calls;
      if (s.name == "activation_forward") activations = s.calls;
    }
    m->backward(perceptra::testing::random_tensor(y.shape(), rng, 1.f), true);
    int64_t backward_adds = 0;
    for (const CpuOpStat& s : cpu_profile_take())
      if (s.name == "elementwise") backward_adds = s.calls;
    cpu_profile_enable(false);
    SCOPED_TRACE(fused ? "fused" : "unfused");
    // Unfused: each block's add, three blocks' ReLUs, the stem's and two
    // branches' ReLUs. Fused: only the last block's add and ReLU (its branch
    // ends in a ReLU, not a batch norm).
    EXPECT_EQ(adds, fused ? 1 : 4);
    EXPECT_EQ(activations, fused ? 1 : 6);
    // Backward: each block sums its two gradients. Fused (where this CPU
    // blocks activations), the three branches that start with a stride-1
    // convolution add the shortcut's gradient in its Winograd input
    // gradient; the stride-2 one adds it after.
    const bool winograd = cpu_winograd() && cpu_backend().activation_channel_block(16) > 1;
    EXPECT_EQ(backward_adds, fused && winograd ? 1 : 4);
  }
  set_training_fusion(true);
}

// A fused batch norm + ReLU whose forward throws (one value per channel)
// leaves the layer's next forward a plain batch norm.
TEST(TrainFusion, AFailedBatchNormReluLeavesNoReluBehind) {
  BatchNorm bn(true, 2);
  EXPECT_THROW(bn.forward_relu(Tensor::full({1, 2, 1, 1}, 1.f)), Error);
  const std::vector<float> y = bn.forward(Tensor::from_vector({2, 2, 1, 1}, {1.f, 2.f, 3.f, 5.f}), true).to_vector();
  EXPECT_LT(*std::min_element(y.begin(), y.end()), -0.5f) << "normalised values below the mean stay negative";
}

// SimpleCNN's first layer (one channel in) is the fused conv + ReLU + pooling
// op's case wherever the CPU blocks its output, so the builtins' comparison
// above covers that op, with and without the input's gradient.
TEST(TrainFusion, SimpleCnnsFirstLayerRunsAsOneOpWhereBlocked) {
  ConvGeometry g = make_conv_geometry(6, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1);
  g.out_block = cpu_backend().activation_channel_block(32);
  EXPECT_EQ(cpu_backend().fuses_conv_relu_maxpool(g), g.out_block > 1);
  if (g.out_block == 1) GTEST_SKIP() << "this CPU keeps NCHW activations (no oneDNN blocked layout)";
  g.out_block = 1;
  EXPECT_FALSE(cpu_backend().fuses_conv_relu_maxpool(g)) << "NCHW outputs are not fused";
}

// The MLP's Linear + ReLU pairs run as matmuls with the ReLU as post-op: no
// activation op runs in its training forward (two do unfused), and the
// builtins' comparison above holds the gradients to the unfused ones.
TEST(TrainFusion, LinearReluRunsAsOneMatmul) {
  const json spec = Model::builtin_spec("mlp", {1, 28, 28}, 10);
  for (bool fused : {true, false}) {
    set_training_fusion(fused);
    Rng rng(3);
    auto m = Model::from_spec(spec, rng);
    Tensor x = perceptra::testing::random_tensor({4, 1, 28, 28}, rng, 1.f);
    cpu_profile_enable(true);
    cpu_profile_take();
    m->forward(x, true);
    int64_t activations = 0;
    for (const CpuOpStat& s : cpu_profile_take())
      if (s.name == "activation_forward") activations = s.calls;
    cpu_profile_enable(false);
    EXPECT_EQ(activations, fused ? 0 : 2) << (fused ? "fused" : "unfused");
  }
  set_training_fusion(true);
}
