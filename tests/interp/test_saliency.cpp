#include <gtest/gtest.h>

#include "core/interp/activations.h"
#include "core/interp/saliency.h"
#include "core/tensor/error.h"
#include "tests/interp/test_util.h"

using namespace perceptra;
using nlohmann::json;

// Two input channels ("red", "green") on 8x8, a 1x1 conv that copies them,
// ReLU, 2x2 max-pool to 4x4, then a linear head:
//   class 0 reads only red in the top-left 2x2 pool cells (= the top-left
//   quadrant of the image), class 1 reads green everywhere.
static std::unique_ptr<Model> quadrant_model() {
  json spec = {{"input", {2, 8, 8}},
               {"classes", 2},
               {"layers",
                {{{"type", "conv2d"}, {"out_channels", 2}, {"kernel", 1}, {"bias", false}},
                 {{"type", "relu"}},
                 {{"type", "maxpool2d"}, {"kernel", 2}},
                 {{"type", "flatten"}},
                 {{"type", "linear"}, {"out_features", 2}}}}};
  auto m = test::build(spec);
  test::set_param(*m, 0, 0, {1, 0, 0, 1});
  std::vector<float> w(2 * 32, 0.f);
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x) w[static_cast<size_t>(y * 4 + x)] = 1.f;   // class 0, channel 0
  for (int i = 0; i < 16; ++i) w[static_cast<size_t>(32 + 16 + i)] = 1.f;  // class 1, channel 1
  test::set_param(*m, 4, 0, w);
  test::set_param(*m, 4, 1, {0.f, 0.f});
  return m;
}

// Red fills the top-left quadrant, green the other three.
static Tensor quadrant_image() {
  std::vector<float> x(2 * 64, 0.f);
  for (int y = 0; y < 8; ++y)
    for (int c = 0; c < 8; ++c) x[static_cast<size_t>((y < 4 && c < 4 ? 0 : 64) + y * 8 + c)] = 1.f;
  return Tensor::from_vector({1, 2, 8, 8}, x);
}

static double top_left_mass(const HeatMap& h) {
  double in = 0, all = 0;
  for (int y = 0; y < h.height; ++y)
    for (int x = 0; x < h.width; ++x) {
      double v = h.values[static_cast<size_t>(y * h.width + x)];
      all += v;
      if (y < h.height / 2 && x < h.width / 2) in += v;
    }
  return all > 0 ? in / all : 0;
}

TEST(Saliency, BilinearUpsamplingMatchesPyTorch) {
  // torch.nn.functional.interpolate([[0,1],[2,3]], size=4, mode="bilinear", align_corners=False)
  std::vector<float> out = upsample_bilinear({0, 1, 2, 3}, 2, 2, 4, 4);
  std::vector<float> want = {0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3};
  ASSERT_EQ(out.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-6) << i;
  EXPECT_EQ(upsample_bilinear({1, 2, 3}, 3, 1, 3, 1), (std::vector<float>{1, 2, 3}));
}

TEST(Saliency, DefaultLayerIsTheLastImageShapedOne) {
  auto m = quadrant_model();
  EXPECT_EQ(default_gradcam_layer(*m), 2);
  json mlp = {{"input", {1, 4, 4}},
              {"classes", 2},
              {"layers", {{{"type", "flatten"}}, {{"type", "linear"}, {"out_features", 2}}}}};
  auto flat = test::build(mlp);
  EXPECT_EQ(default_gradcam_layer(*flat), -1);
  EXPECT_THROW(grad_cam(*flat, Tensor::zeros({1, 1, 4, 4})), InputError);
}

TEST(Saliency, GradCamHighlightsTheRegionTheClassReads) {
  auto m = quadrant_model();
  HeatMap h = grad_cam(*m, quadrant_image(), 0);
  EXPECT_EQ(h.layer_index, 2);
  EXPECT_EQ(h.target_class, 0);
  EXPECT_FLOAT_EQ(h.score, 4.f);
  // Hand computation: the gradient at the pooled map is the head's weights,
  // so a_red = 4 cells / 16 = 0.25, a_green = 0; map = 0.25 on the top-left cells.
  ASSERT_EQ(h.channel_weights.size(), 2u);
  EXPECT_FLOAT_EQ(h.channel_weights[0], 0.25f);
  EXPECT_FLOAT_EQ(h.channel_weights[1], 0.f);
  ASSERT_EQ(h.coarse_width, 4);
  ASSERT_EQ(h.coarse_height, 4);
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(h.coarse[static_cast<size_t>(y * 4 + x)], y < 2 && x < 2 ? 0.25f : 0.f);
  ASSERT_EQ(h.width, 8);
  ASSERT_EQ(h.height, 8);
  EXPECT_FLOAT_EQ(*std::max_element(h.values.begin(), h.values.end()), 1.f);
  EXPECT_GT(top_left_mass(h), 0.8);

  // Class 1 (green everywhere) is predicted (score 12 > 4) and lights up the rest.
  HeatMap g = grad_cam(*m, quadrant_image());
  EXPECT_EQ(g.target_class, 1);
  EXPECT_FLOAT_EQ(g.score, 12.f);
  EXPECT_GT(g.probabilities[1], 0.99f);
  EXPECT_LT(top_left_mass(g), 0.1);
}

TEST(Saliency, InputGradientFollowsTheSpatialMask) {
  // Red everywhere: class 0 still reads only the top-left quadrant, so only
  // top-left pixels change its score.
  auto m = quadrant_model();
  std::vector<float> x(2 * 64, 0.f);
  for (int i = 0; i < 64; ++i) x[static_cast<size_t>(i)] = 0.5f + 0.01f * static_cast<float>(i % 7);
  Tensor img = Tensor::from_vector({1, 2, 8, 8}, x);
  HeatMap s = input_gradient_saliency(*m, img, 0);
  EXPECT_EQ(s.layer_index, -1);
  ASSERT_EQ(s.values.size(), 64u);
  EXPECT_DOUBLE_EQ(top_left_mass(s), 1.0);
  EXPECT_FLOAT_EQ(*std::max_element(s.values.begin(), s.values.end()), 1.f);
  // Grad-CAM weighs channels, not places: with red everywhere its map covers
  // every red cell (a known property of the method, kept as is).
  HeatMap g = grad_cam(*m, img, 0);
  for (float v : g.coarse) EXPECT_GT(v, 0.f);
}

TEST(Saliency, BadRequests) {
  auto m = quadrant_model();
  Tensor img = quadrant_image();
  EXPECT_THROW(grad_cam(*m, img, 2), InputError);
  EXPECT_THROW(grad_cam(*m, img, -1, 4), InputError);  // the logits layer
  EXPECT_THROW(grad_cam(*m, img, -1, 3), InputError);  // flatten: not 4-D
  EXPECT_THROW(grad_cam(*m, Tensor::zeros({2, 2, 8, 8})), InputError);
  EXPECT_THROW(input_gradient_saliency(*m, Tensor::zeros({1, 1, 8, 8})), InputError);
  // A zero image has no salient pixel: all zeros, not NaN.
  HeatMap z = grad_cam(*m, Tensor::zeros({1, 2, 8, 8}), 0);
  for (float v : z.values) EXPECT_EQ(v, 0.f);
}

TEST(Saliency, CloneModelCopiesWeightsAndIsIndependent) {
  auto m = quadrant_model();
  auto c = clone_model(*m, Device::cpu());
  Tensor img = quadrant_image();
  EXPECT_EQ(m->forward(img, false).to_vector(), c->forward(img, false).to_vector());
  test::set_param(*c, 4, 1, {5.f, 5.f});
  EXPECT_EQ(m->forward(img, false).to_vector(), (std::vector<float>{4.f, 12.f}));
}

TEST(Saliency, RunsOnEveryBuiltinImageModel) {
  for (const char* name : {"lenet5", "simplecnn", "resnet-small"}) {
    SCOPED_TRACE(name);
    auto m = test::build(Model::builtin_spec(name, Shape{3, 16, 16}, 4));
    Rng rng(3);
    std::vector<float> v(3 * 16 * 16);
    for (float& x : v) x = rng.normal();
    Tensor img = Tensor::from_vector({1, 3, 16, 16}, v);
    auto before = test::fingerprint(*m);
    HeatMap h = grad_cam(*m, img);
    HeatMap s = input_gradient_saliency(*m, img);
    EXPECT_EQ(test::fingerprint(*m), before);
    EXPECT_GE(h.layer_index, 0);
    ASSERT_EQ(h.values.size(), 256u);
    ASSERT_EQ(s.values.size(), 256u);
    for (float x : h.values) EXPECT_TRUE(x >= 0.f && x <= 1.f);
    EXPECT_FLOAT_EQ(*std::max_element(s.values.begin(), s.values.end()), 1.f);
    ActivationSnapshot a = capture_activations(*m, img);
    EXPECT_EQ(a.layers.size(), m->layers().size());
  }
}
