// Model::infer (conv + BatchNorm + ReLU fused, core/nn/inference.h) must give
// the logits of forward(x, false): for every built-in and for the patterns
// the fusion matches or must leave alone.
#include <gtest/gtest.h>

#include <cmath>

#include "core/backend/backend.h"
#include "core/backend/cpu/cpu_profile.h"
#include "core/nn/inference.h"
#include "core/nn/model.h"
#include "core/tensor/error.h"
#include "nn_test_util.h"

using namespace perceptra;
using nlohmann::json;

namespace {

// Running statistics and affine parameters far from their initial 0/1, so a
// wrong fold (scale, shift, eps, order) cannot hide.
std::unique_ptr<Model> trained_like(const json& spec, const Shape& in, uint64_t seed) {
  Rng rng(seed);
  auto m = Model::from_spec(spec, rng);
  for (int step = 0; step < 3; ++step)
    m->forward(perceptra::testing::random_tensor({8, in[0], in[1], in[2]}, rng, 2.f), true);
  for (Parameter* p : m->parameters())
    if (p->trainable && p->value.rank() == 1) {  // biases, BN gamma/beta
      std::vector<float> v = p->value.to_vector();
      for (float& x : v) x += rng.uniform(-0.5f, 0.5f);
      p->value.copy_from(Tensor::from_vector(p->value.shape(), v));
    }
  return m;
}

void expect_infer_matches_forward(Model& m, const Tensor& x, const std::string& what) {
  std::vector<float> ref = m.forward(x, false).to_vector();
  std::vector<float> fused = m.infer(x).to_vector();
  ASSERT_EQ(fused.size(), ref.size()) << what;
  double scale = 0;
  for (float v : ref) scale = std::max(scale, double(std::abs(v)));
  for (size_t i = 0; i < ref.size(); ++i) ASSERT_NEAR(fused[i], ref[i], 2e-5 * (1 + scale)) << what << " logit " << i;
  set_inference_fusion(false);
  EXPECT_EQ(m.infer(x).to_vector(), ref) << what << ": unfused infer is forward(x, false)";
  set_inference_fusion(true);
}

json conv(int k, bool bias = true, int groups = 1) {
  return {{"type", "conv2d"}, {"out_channels", k}, {"kernel", 3}, {"padding", 1}, {"bias", bias}, {"groups", groups}};
}
json layer(const std::string& t) { return {{"type", t}}; }

}  // namespace

TEST(Inference, BuiltinsGiveTheEvalForwardLogits) {
  for (const auto& name : Model::builtin_names())
    for (Shape in : {Shape{1, 28, 28}, Shape{3, 32, 32}}) {
      auto m = trained_like(Model::builtin_spec(name, in, 10), in, 3);
      Rng rng(4);
      expect_infer_matches_forward(*m, perceptra::testing::random_tensor({5, in[0], in[1], in[2]}, rng),
                                   name + " " + in.str());
    }
}

TEST(Inference, AHeldPassGivesEveryBatchTheLogitsOfAnUnheldOne) {
  // An evaluation holds its weights (WeightsHeld) over many batches. Chains
  // fold batch norm into new weights per call, so nothing prepared from a
  // chain link's weights may be kept by their address: later links' folded
  // weights reuse freed addresses (a cache so keyed once gave ResNet-small
  // another layer's Winograd filters and 10 % test accuracy).
  for (const auto& name : {std::string("resnet-small"), std::string("simplecnn")}) {
    const Shape in{1, 28, 28};
    auto m = trained_like(Model::builtin_spec(name, in, 10), in, 5);
    Rng rng(6);
    std::vector<Tensor> xs;
    std::vector<std::vector<float>> plain;
    for (int b = 0; b < 3; ++b) {
      xs.push_back(perceptra::testing::random_tensor({16, in[0], in[1], in[2]}, rng));
      plain.push_back(m->infer(xs.back()).to_vector());
    }
    const WeightsHeld pass;
    for (int b = 0; b < 3; ++b) {
      const std::vector<float> held = m->infer(xs[size_t(b)]).to_vector();
      ASSERT_EQ(held.size(), plain[size_t(b)].size());
      for (size_t i = 0; i < held.size(); ++i)
        ASSERT_NEAR(held[i], plain[size_t(b)][i], 1e-4 * (1 + std::abs(plain[size_t(b)][i])))
            << name << " batch " << b << " logit " << i;
    }
  }
}

TEST(Inference, FusionPatternsAndTheirNeighbours) {
  json bn_plain = {{"type", "batchnorm2d"}, {"affine", false}, {"eps", 1e-3}};
  json leaky = {{"type", "leaky_relu"}, {"slope", 0.2}};
  std::vector<json> stacks = {
      {conv(6), layer("batchnorm2d"), layer("relu")},             // all three
      {conv(6, false), bn_plain, layer("relu")},                  // no conv bias, no BN affine
      {conv(6), layer("relu"), layer("batchnorm2d")},             // BN after the ReLU: not folded
      {conv(6), layer("batchnorm2d"), leaky},                     // other activation stays apart
      {conv(6, true, 2), layer("batchnorm2d"), layer("relu")},    // grouped: im2col fallback
      {conv(6), layer("batchnorm2d")},                            // BN last
      {conv(6), conv(4), layer("relu")},                          // conv then conv+relu
      {conv(6), layer("batchnorm2d"), layer("relu6")},            // ReLU6 as the clip post-op
      {conv(4, false, 4), layer("batchnorm2d"), layer("relu6")},  // depthwise (MobileNetV2's)
      // An inverted-residual-like chain of three links: one backend chain.
      {conv(8), layer("batchnorm2d"), layer("relu6"), conv(8, false, 8), layer("batchnorm2d"), layer("relu6"), conv(4),
       layer("batchnorm2d")},
  };
  for (size_t i = 0; i < stacks.size(); ++i) {
    json layers = stacks[i];
    layers.push_back(layer("flatten"));
    layers.push_back({{"type", "linear"}, {"out_features", 3}});
    json spec = {{"name", "t"}, {"input", {4, 9, 9}}, {"classes", 3}, {"layers", layers}};
    auto m = trained_like(spec, {4, 9, 9}, 10 + i);
    Rng rng(20 + i);
    expect_infer_matches_forward(*m, perceptra::testing::random_tensor({3, 4, 9, 9}, rng),
                                 "stack " + std::to_string(i) + " " + stacks[i].dump());
  }
}

// Linear + ReLU / ReLU6 run as one matmul with the activation as post-op
// (last layer included); other activations stay apart.
TEST(Inference, LinearActivationsFoldIntoTheMatmul) {
  auto linear = [](int k) { return json{{"type", "linear"}, {"out_features", k}}; };
  json leaky = {{"type", "leaky_relu"}, {"slope", 0.2}};
  std::vector<json> heads = {
      {layer("flatten"), linear(12), layer("relu6"), linear(5), layer("relu"), linear(3)},
      {layer("flatten"), linear(12), leaky, linear(3)},
      {layer("flatten"), linear(12), layer("relu"), linear(3), layer("relu")},
  };
  for (size_t i = 0; i < heads.size(); ++i) {
    json spec = {{"name", "t"}, {"input", {2, 5, 5}}, {"classes", 3}, {"layers", heads[i]}};
    auto m = trained_like(spec, {2, 5, 5}, 30 + i);
    Rng rng(40 + i);
    const Tensor x = perceptra::testing::random_tensor({7, 2, 5, 5}, rng, 3.f);
    expect_infer_matches_forward(*m, x, "head " + std::to_string(i) + " " + heads[i].dump());
    cpu_profile_enable(true);
    cpu_profile_take();
    m->infer(x);
    int64_t activations = 0;
    for (const CpuOpStat& st : cpu_profile_take())
      if (st.name == "activation_forward") activations = st.calls;
    cpu_profile_enable(false);
    EXPECT_EQ(activations, i == 1 ? 1 : 0) << "head " << i << ": only the leaky ReLU runs as its own op";
  }
}

TEST(Inference, LeavesTrainingStateAloneAndRefusesBackward) {
  auto m = trained_like(Model::builtin_spec("resnet-small", {1, 28, 28}, 10), {1, 28, 28}, 5);
  std::vector<std::vector<float>> before;
  for (Parameter* p : m->parameters()) before.push_back(p->value.to_vector());
  Rng rng(6);
  Tensor x = perceptra::testing::random_tensor({2, 1, 28, 28}, rng);
  m->infer(x);
  auto params = m->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i]->value.to_vector(), before[i]) << params[i]->name;
  EXPECT_THROW(m->backward(Tensor::zeros({2, 10})), Error);
  // forward(x, false) still supports backward (saliency needs it).
  m->forward(x, false);
  EXPECT_NO_THROW(m->backward(Tensor::zeros({2, 10})));
}
