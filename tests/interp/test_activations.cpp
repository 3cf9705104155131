#include <gtest/gtest.h>

#include "core/data/memory_dataset.h"
#include "core/interp/activations.h"
#include "core/interp/saliency.h"
#include "core/nn/loss.h"
#include "core/optim/optimizer.h"
#include "core/tensor/error.h"
#include "tests/interp/test_util.h"

using namespace perceptra;
using nlohmann::json;

// One 3x3 vertical-edge filter (dark left, bright right) on a 5x5 image.
static json edge_spec() {
  return {{"input", {1, 5, 5}},
          {"classes", 2},
          {"layers",
           {{{"type", "conv2d"}, {"out_channels", 1}, {"kernel", 3}, {"bias", false}},
            {{"type", "relu"}},
            {{"type", "flatten"}},
            {{"type", "linear"}, {"out_features", 2}}}}};
}

static std::unique_ptr<Model> edge_model() {
  auto m = test::build(edge_spec());
  test::set_param(*m, 0, 0, {-1, 0, 1, -1, 0, 1, -1, 0, 1});
  return m;
}

// Columns 0-1 dark, 2-4 bright: a vertical edge between columns 1 and 2.
static Tensor edge_image() {
  std::vector<float> x(25, 0.f);
  for (int r = 0; r < 5; ++r)
    for (int c = 2; c < 5; ++c) x[static_cast<size_t>(r * 5 + c)] = 1.f;
  return Tensor::from_vector({1, 1, 5, 5}, x);
}

TEST(Activations, VerticalEdgeFilterGivesTheExpectedImage) {
  auto m = edge_model();
  ActivationSnapshot s = capture_activations(*m, edge_image());
  ASSERT_EQ(s.layers.size(), 4u);
  const LayerActivation& conv = s.layers[0];
  EXPECT_EQ(conv.type, "conv2d");
  EXPECT_EQ(conv.shape, (Shape{1, 1, 3, 3}));
  // Output column j sees input columns j..j+2: 3 * (x[j+2] - x[j]) = 3, 3, 0.
  std::vector<float> want = {3, 3, 0, 3, 3, 0, 3, 3, 0};
  EXPECT_EQ(conv.values, want);
  TiledImage img = activation_image(conv);
  ASSERT_EQ(img.image.w, 3);
  ASSERT_EQ(img.image.h, 3);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(img.image.at(0, r)[0], 255);
    EXPECT_EQ(img.image.at(1, r)[0], 255);
    EXPECT_EQ(img.image.at(2, r)[0], 0);
  }
  // The flattened layer is shown as a strip of 9 units.
  TiledImage strip = activation_image(s.layers[2]);
  EXPECT_EQ(strip.tiles.size(), 9u);
  EXPECT_EQ(strip.image.channels, 3);  // viridis by default
  // Probabilities of the logits.
  ASSERT_EQ(s.classes, 2);
  EXPECT_NEAR(s.probabilities[0] + s.probabilities[1], 1.0, 1e-6);
  EXPECT_EQ(s.predicted[0], s.probabilities[1] > s.probabilities[0] ? 1 : 0);

  // A horizontal edge does not excite a vertical-edge filter: an all-zero
  // (dead) channel, drawn black.
  std::vector<float> h(25, 0.f);
  for (int c = 0; c < 5; ++c)
    for (int r = 3; r < 5; ++r) h[static_cast<size_t>(r * 5 + c)] = 1.f;
  ActivationSnapshot s2 = capture_activations(*m, Tensor::from_vector({1, 1, 5, 5}, h));
  EXPECT_EQ(s2.layers[1].values, std::vector<float>(9, 0.f));
  TiledImage dead = activation_image(s2.layers[1]);
  for (uint8_t p : dead.image.pixels) EXPECT_EQ(p, 0);
}

TEST(Activations, ChosenLayersAndErrors) {
  auto m = edge_model();
  CaptureOptions o;
  o.layers = {1, 3};
  ActivationSnapshot s = capture_activations(*m, edge_image(), o);
  ASSERT_EQ(s.layers.size(), 2u);
  EXPECT_EQ(s.layers[0].layer_index, 1);
  EXPECT_EQ(s.layers[0].type, "relu");
  EXPECT_EQ(s.layers[1].shape, (Shape{1, 2}));
  o.layers = {4};
  EXPECT_THROW(capture_activations(*m, edge_image(), o), InputError);
  EXPECT_THROW(capture_activations(*m, Tensor::zeros({1, 1, 4, 5})), InputError);
  EXPECT_THROW(activation_image(s.layers[0], 1), InputError);
}

// conv -> batchnorm -> relu -> dropout -> flatten -> linear, after one
// training step so gradients, BN statistics and momentum are all non-trivial.
static json busy_spec() {
  return {{"input", {1, 6, 6}},
          {"classes", 3},
          {"layers",
           {{{"type", "conv2d"}, {"out_channels", 4}, {"kernel", 3}, {"padding", 1}},
            {{"type", "batchnorm2d"}},
            {{"type", "relu"}},
            {{"type", "dropout"}, {"p", 0.5}},
            {{"type", "flatten"}},
            {{"type", "linear"}, {"out_features", 3}}}}};
}

static Tensor random_batch(int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n) * 36);
  for (float& x : v) x = rng.normal();
  return Tensor::from_vector({n, 1, 6, 6}, v);
}

static void train_step(Model& m, Optimizer& opt, uint64_t seed) {
  Tensor x = random_batch(8, seed);
  std::vector<float> y(8);
  for (int i = 0; i < 8; ++i) y[static_cast<size_t>(i)] = static_cast<float>((i + seed) % 3);
  SoftmaxCrossEntropy loss;
  loss.forward(m.forward(x, true), Tensor::from_vector({8}, y));
  m.backward(loss.backward());
  opt.step();
}

TEST(Activations, SnapshotsDoNotDisturbTraining) {
  auto m = test::build(busy_spec());
  OptimizerConfig cfg;
  cfg.lr = 0.1f;
  auto opt = make_optimizer(cfg, m->parameters());
  train_step(*m, *opt, 1);
  // Grads of the last step are still there (a trainer might read them).
  auto before = test::fingerprint(*m);
  Tensor probe = random_batch(2, 99);
  capture_activations(*m, probe);
  EXPECT_EQ(test::fingerprint(*m), before) << "activation capture changed a parameter";
  grad_cam(*m, probe.slice(0, 1), 2);
  EXPECT_EQ(test::fingerprint(*m), before) << "Grad-CAM changed a parameter or gradient";
  input_gradient_saliency(*m, probe.slice(1, 2));
  EXPECT_EQ(test::fingerprint(*m), before) << "input saliency changed a parameter or gradient";
  first_layer_filters(*m);
  EXPECT_EQ(test::fingerprint(*m), before);
}

TEST(Activations, TrainingTrajectoryIsBitIdenticalWithSnapshots) {
  // Same seed, same steps; one model is inspected between every batch.
  auto a = test::build(busy_spec(), 5), b = test::build(busy_spec(), 5);
  OptimizerConfig cfg;
  cfg.lr = 0.05f;
  auto oa = make_optimizer(cfg, a->parameters()), ob = make_optimizer(cfg, b->parameters());
  Tensor probe = random_batch(1, 7);
  for (uint64_t step = 0; step < 4; ++step) {
    train_step(*a, *oa, step);
    train_step(*b, *ob, step);
    capture_activations(*b, probe);
    grad_cam(*b, probe);
  }
  EXPECT_EQ(test::fingerprint(*a), test::fingerprint(*b));
}

TEST(Activations, ProbeBatchAppliesNormalisation) {
  MemoryDataset data("mem", Shape{1, 1, 2}, {"a", "b"}, {0, 255, 51, 102}, {0, 1});
  NormStats stats;
  stats.mean = {0.5f};
  stats.std = {0.25f};
  Tensor t = make_probe_batch(data, {1, 0}, stats);
  EXPECT_EQ(t.shape(), (Shape{2, 1, 1, 2}));
  std::vector<float> v = t.to_vector();
  EXPECT_NEAR(v[0], (0.2f - 0.5f) / 0.25f, 1e-6);
  EXPECT_NEAR(v[1], (0.4f - 0.5f) / 0.25f, 1e-6);
  EXPECT_NEAR(v[2], -2.f, 1e-6);
  EXPECT_NEAR(v[3], 2.f, 1e-6);
  EXPECT_EQ(make_probe_batch(data, {0}, NormStats{}).to_vector()[1], 1.f);
  EXPECT_THROW(make_probe_batch(data, {2}, stats), InputError);
  NormStats three = NormStats::identity(3);
  EXPECT_THROW(make_probe_batch(data, {0}, three), InputError);
}

TEST(Activations, FilterImages) {
  // Two RGB filters 1x2: the first pure red on the left, the second grey ramp.
  std::vector<float> w = {1, 0, 0, 0, 0, 0,   // filter 0: R, G, B planes
                          0, 1, 0, 1, 0, 1};  // filter 1
  TileOptions o;
  o.scale = 2;
  FilterImages f = filter_images(w, Shape{2, 3, 1, 2}, o);
  ASSERT_EQ(f.filters.size(), 2u);
  const Image8& red = f.filters[0];
  EXPECT_EQ(red.channels, 3);
  EXPECT_EQ(red.w, 4);
  EXPECT_EQ(red.h, 2);
  EXPECT_EQ(red.at(0, 0)[0], 255);
  EXPECT_EQ(red.at(1, 1)[1], 0);
  EXPECT_EQ(red.at(2, 0)[0], 0);
  EXPECT_EQ(f.filters[1].at(3, 0)[1], 255);
  EXPECT_EQ(f.grid.tiles.size(), 2u);
  EXPECT_EQ(f.grid.image.w, 4 + 1 + 4);
  // Single input channel: grey through the colour map.
  auto m = edge_model();
  FilterImages g = first_layer_filters(*m, TileOptions{});
  ASSERT_EQ(g.filters.size(), 1u);
  EXPECT_EQ(g.filters[0].channels, 1);
  EXPECT_EQ(g.filters[0].at(0, 0)[0], 0);
  EXPECT_EQ(g.filters[0].at(1, 0)[0], 128);
  EXPECT_EQ(g.filters[0].at(2, 2)[0], 255);
  EXPECT_THROW(filter_images(w, Shape{2, 3, 2}, o), InputError);
}

TEST(Activations, DatasetProbesCarryIndexLabelAndImage) {
  // 5x5 samples: sample 1 is the vertical edge image (as bytes), sample 0 blank.
  std::vector<uint8_t> px(50, 0);
  for (int r = 0; r < 5; ++r)
    for (int c = 2; c < 5; ++c) px[static_cast<size_t>(25 + r * 5 + c)] = 255;
  MemoryDataset data("mem", Shape{1, 5, 5}, {"a", "b"}, px, {0, 1});
  auto m = edge_model();
  ActivationSnapshot s = capture_activations(*m, data, {1}, NormStats{});
  EXPECT_EQ(s.probe_index, (std::vector<int64_t>{1}));
  EXPECT_EQ(s.probe_label, (std::vector<int>{1}));
  ASSERT_EQ(s.probe_images.size(), 1u);
  EXPECT_EQ(s.probe_images[0].at(4, 0)[0], 255);
  EXPECT_EQ(s.probe_images[0].at(0, 0)[0], 0);
  EXPECT_EQ(s.layers[0].values, (std::vector<float>{3, 3, 0, 3, 3, 0, 3, 3, 0}));
  EXPECT_THROW(capture_activations(*m, data, {}, NormStats{}), InputError);
}
