// Behaviour of individual layers beyond gradients: dropout masks, batch-norm
// statistics, views, residual shortcuts, spec arguments.
#include <cmath>

#include "core/nn/activation.h"
#include "core/nn/dropout.h"
#include "core/nn/layer_factory.h"
#include "core/nn/residual.h"
#include "core/tensor/error.h"
#include "nn_test_util.h"

namespace perceptra {
namespace {

using nlohmann::json;

TEST(Dropout, TrainMasksEvalIdentity) {
  Rng rng(1);
  LayerPtr d = make_layer({{"type", "dropout"}, {"p", 0.3}}, {1, 1000}, "drop");
  d->reset_parameters(rng);
  Tensor x = Tensor::full({4, 1000}, 2.f);
  std::vector<float> y = d->forward(x, true).to_vector();
  int dropped = 0;
  for (float v : y) {
    if (v == 0.f)
      ++dropped;
    else
      EXPECT_FLOAT_EQ(v, 2.f / 0.7f);
  }
  EXPECT_NEAR(dropped / 4000.0, 0.3, 0.03);
  // Backward routes through the same mask.
  std::vector<float> dx = d->backward(Tensor::full({4, 1000}, 1.f)).to_vector();
  for (size_t i = 0; i < y.size(); ++i) EXPECT_FLOAT_EQ(dx[i], y[i] / 2.f);
  // Eval: identity, gradient passes unchanged.
  Tensor ye = d->forward(x, false);
  EXPECT_EQ(ye.to_vector(), x.to_vector());
  EXPECT_EQ(d->backward(x).to_vector(), x.to_vector());
}

TEST(Dropout, ReproducibleFromSeedAndFreshEachCall) {
  auto make = [](uint64_t seed) {
    Rng rng(seed);
    LayerPtr d = make_layer({{"type", "dropout"}, {"p", 0.5}}, {1, 256}, "drop");
    d->reset_parameters(rng);
    return d;
  };
  Tensor x = Tensor::full({1, 256}, 1.f);
  LayerPtr a = make(5), b = make(5), c = make(6);
  std::vector<float> a1 = a->forward(x, true).to_vector(), a2 = a->forward(x, true).to_vector();
  std::vector<float> b1 = b->forward(x, true).to_vector(), b2 = b->forward(x, true).to_vector();
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, a2);  // new mask every call
  EXPECT_NE(a1, c->forward(x, true).to_vector());
  // Resuming from saved state repeats the sequence.
  auto* da = dynamic_cast<Dropout*>(a.get());
  LayerPtr r = make(99);
  dynamic_cast<Dropout*>(r.get())->set_state(da->seed(), 1);
  EXPECT_EQ(r->forward(x, true).to_vector(), a2);
}

TEST(BatchNorm, RunningStatisticsAndEval) {
  LayerPtr bn = make_layer({{"type", "batchnorm1d"}, {"momentum", 0.5}}, {1, 2}, "bn");
  // Channel 0: 1, 3 (mean 2, unbiased var 2); channel 1: 0, 0 (mean 0, var 0).
  Tensor x = Tensor::from_vector({2, 2}, {1, 0, 3, 0});
  std::vector<float> y = bn->forward(x, true).to_vector();
  float inv = 1.f / std::sqrt(1.f + 1e-5f);  // biased var 1
  EXPECT_NEAR(y[0], -inv, 1e-5);
  EXPECT_NEAR(y[2], inv, 1e-5);
  EXPECT_NEAR(y[1], 0.f, 1e-6);
  auto p = bn->parameters();
  EXPECT_EQ(p[2]->name, "running_mean");
  std::vector<float> rm = p[2]->value.to_vector(), rv = p[3]->value.to_vector();
  EXPECT_NEAR(rm[0], 1.0, 1e-6);  // 0.5 * 0 + 0.5 * 2
  EXPECT_NEAR(rv[0], 1.5, 1e-6);  // 0.5 * 1 + 0.5 * 2 (unbiased)
  EXPECT_NEAR(rv[1], 0.5, 1e-6);
  // Eval uses the running statistics.
  std::vector<float> ye = bn->forward(Tensor::from_vector({1, 2}, {2, 1}), false).to_vector();
  EXPECT_NEAR(ye[0], (2.f - 1.f) / std::sqrt(1.5f + 1e-5f), 1e-5);
  EXPECT_NEAR(ye[1], 1.f / std::sqrt(0.5f + 1e-5f), 1e-5);
  // Training on a single value per channel is refused with a reason.
  EXPECT_THROW(bn->forward(Tensor::from_vector({1, 2}, {2, 1}), true), Error);
}

TEST(BatchNorm, NotAffineHasOnlyBuffers) {
  LayerPtr bn = make_layer({{"type", "batchnorm2d"}, {"affine", false}}, {1, 3, 2, 2}, "bn");
  EXPECT_EQ(bn->parameters().size(), 2u);
  EXPECT_EQ(bn->parameter_count(), 0);
  Rng rng(2);
  EXPECT_EQ(testing::check_gradients(*bn, testing::random_tensor({2, 3, 2, 2}, rng), {}), 0);
}

TEST(Flatten, IsAView) {
  LayerPtr f = make_layer({{"type", "flatten"}}, {1, 2, 3, 4}, "flatten");
  Tensor x = Tensor::zeros({5, 2, 3, 4});
  Tensor y = f->forward(x, true);
  EXPECT_EQ(y.shape(), Shape({5, 24}));
  EXPECT_TRUE(y.shares_storage_with(x));
  EXPECT_EQ(f->backward(y).shape(), x.shape());
}

TEST(Activation, KnownValues) {
  Tensor x = Tensor::from_vector({1, 4}, {-2.f, -0.5f, 0.5f, 3.f});
  auto run = [&](json spec) { return make_layer(spec, {1, 4}, "act")->forward(x, false).to_vector(); };
  std::vector<float> r = run({{"type", "relu"}});
  EXPECT_EQ(r, (std::vector<float>{0, 0, 0.5f, 3.f}));
  r = run({{"type", "leaky_relu"}, {"slope", 0.1}});
  EXPECT_FLOAT_EQ(r[0], -0.2f);
  r = run({{"type", "gelu"}});  // exact: x * Phi(x)
  EXPECT_NEAR(r[0], -2.0 * 0.5 * std::erfc(2.0 / std::sqrt(2.0)), 1e-6);
  EXPECT_NEAR(r[3], 3.0 * 0.5 * std::erfc(-3.0 / std::sqrt(2.0)), 1e-6);
  r = run({{"type", "sigmoid"}});
  EXPECT_NEAR(r[2], 1.0 / (1.0 + std::exp(-0.5)), 1e-6);
  r = run({{"type", "tanh"}});
  EXPECT_NEAR(r[1], std::tanh(-0.5), 1e-6);
}

TEST(Residual, ShortcutChoice) {
  json same = {{"type", "residual"},
               {"layers", {{{"type", "conv2d"}, {"out_channels", 4}, {"kernel", 3}, {"padding", 1}}}}};
  LayerPtr r = make_layer(same, {1, 4, 6, 6}, "res");
  EXPECT_FALSE(dynamic_cast<Residual*>(r.get())->has_projection());
  EXPECT_EQ(r->args()["shortcut"], "identity");
  EXPECT_EQ(r->parameter_count(), 4 * 4 * 9 + 4);
  LayerPtr p = make_layer(same, {1, 2, 6, 6}, "res");  // channels change: projection
  EXPECT_TRUE(dynamic_cast<Residual*>(p.get())->has_projection());
  EXPECT_EQ(p->parameter_count(), 4 * 2 * 9 + 4 + 2 * 4 + 2 * 4);
  EXPECT_EQ(p->output_shape({3, 2, 6, 6}), Shape({3, 4, 6, 6}));
  // Odd plane with stride 2: 7 -> 4, matched by a stride-2 1x1 projection.
  json down = {{"type", "residual"},
               {"layers", {{{"type", "conv2d"}, {"out_channels", 4}, {"kernel", 3}, {"padding", 1}, {"stride", 2}}}}};
  LayerPtr d = make_layer(down, {1, 4, 7, 7}, "res");
  EXPECT_EQ(d->output_shape({2, 4, 7, 7}), Shape({2, 4, 4, 4}));
  Rng rng(3);
  EXPECT_EQ(d->forward(testing::random_tensor({2, 4, 7, 7}, rng), true).shape(), Shape({2, 4, 4, 4}));
  // Explicit projection with an unchanged shape is allowed.
  json proj = same;
  proj["shortcut"] = "projection";
  EXPECT_TRUE(dynamic_cast<Residual*>(make_layer(proj, {1, 4, 6, 6}, "res").get())->has_projection());
  // A branch that flattens cannot be bridged.
  json bad = {{"type", "residual"}, {"layers", {{{"type", "flatten"}}}}};
  EXPECT_THROW(make_layer(bad, {1, 4, 6, 6}, "layer 2 (residual)"), InputError);
  json empty = {{"type", "residual"}, {"layers", json::array()}};
  try {
    make_layer(empty, {1, 4, 6, 6}, "layer 2 (residual)");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "layer 2 (residual): field 'layers' must be a non-empty list of layers");
  }
}

TEST(LayerSpec, ArgsRoundTripForEveryType) {
  const Shape image{1, 4, 8, 8}, flat{1, 6};
  for (const auto& type : layer_types()) {
    SCOPED_TRACE(type);
    json spec = {{"type", type}};
    bool wants_flat = type == "linear" || type == "batchnorm1d";
    if (type == "linear") spec["out_features"] = 3;
    if (type == "conv2d") {
      spec["out_channels"] = 6;
      spec["kernel"] = json::array({3, 1});
      spec["groups"] = 2;
    }
    if (type == "residual") spec["layers"] = {{{"type", "conv2d"}, {"out_channels", 4}, {"kernel", 1}}};
    Shape in = wants_flat ? flat : image;
    LayerPtr l = make_layer(spec, in, "layer");
    json back = layer_spec(*l);
    LayerPtr l2 = make_layer(back, in, "layer");
    EXPECT_EQ(layer_spec(*l2), back);
    EXPECT_EQ(l2->output_shape(in), l->output_shape(in));
    EXPECT_EQ(l2->parameter_count(), l->parameter_count());
  }
}

TEST(Layers, LinearAndConvSkipTheInputGradientWhenNotNeeded) {
  Rng rng(31);
  struct Case {
    nlohmann::json spec;
    Shape in;
  };
  for (const Case& c : {Case{{{"type", "linear"}, {"out_features", 5}}, {3, 7}},
                        Case{{{"type", "conv2d"}, {"out_channels", 4}, {"kernel", 3}}, {2, 3, 6, 6}}}) {
    LayerPtr l = make_layer(c.spec, c.in, "layer");
    Rng init(1);
    l->reset_parameters(init);
    Tensor x = testing::random_tensor(c.in, rng);
    Tensor y = l->forward(x, true);
    Tensor dy = testing::random_tensor(y.shape(), rng);
    Tensor dx = l->backward(dy);
    std::vector<std::vector<float>> grads;
    for (Parameter* p : l->parameters()) grads.push_back(p->grad.to_vector());
    l->set_input_grad_needed(false);
    l->forward(x, true);
    EXPECT_FALSE(l->backward(dy).defined()) << c.spec.dump();
    auto params = l->parameters();
    for (size_t i = 0; i < params.size(); ++i)
      EXPECT_EQ(params[i]->grad.to_vector(), grads[i]) << c.spec.dump() << " " << params[i]->name;
    l->set_input_grad_needed(true);
    l->forward(x, true);
    EXPECT_EQ(l->backward(dy).to_vector(), dx.to_vector()) << c.spec.dump();
  }
}

// Training activations keep their output only (ActivationLayer::keeps_input):
// the gradient of relu, relu6, leaky_relu, sigmoid and tanh is right even
// when the input's storage is overwritten between forward and backward, so
// the layer no longer needs (or holds) it. GELU reads x and says so.
TEST(Activation, GradientsNeedOnlyTheOutputExceptGelu) {
  const Shape s{2, 3, 4, 5};
  std::vector<float> v(size_t(s.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = -7.f + 14.f * float(i) / float(v.size());  // both sides of 0 and 6
  const Tensor g = Tensor::from_vector(s, std::vector<float>(v.size(), 1.f));
  for (auto [kind, slope] :
       {std::pair{Activation::ReLU, 0.f}, std::pair{Activation::ReLU6, 0.f}, std::pair{Activation::LeakyReLU, 0.1f},
        std::pair{Activation::Sigmoid, 0.f}, std::pair{Activation::Tanh, 0.f}, std::pair{Activation::GELU, 0.f},
        std::pair{Activation::LeakyReLU, -0.5f}}) {
    ActivationLayer reference(kind, slope), layer(kind, slope);
    reference.forward(Tensor::from_vector(s, v), true);
    const std::vector<float> want = reference.backward(g).to_vector();
    Tensor x = Tensor::from_vector(s, v);
    layer.forward(x, true);
    x.copy_from(Tensor::from_vector(s, std::vector<float>(v.size(), 3.f)));  // the caller reuses its buffer
    const std::vector<float> got = layer.backward(g).to_vector();
    SCOPED_TRACE(layer.type() + " slope " + std::to_string(slope));
    EXPECT_EQ(layer.keeps_input(), kind == Activation::GELU || slope < 0.f);
    if (layer.keeps_input())
      EXPECT_NE(got, want) << "keeps (and reads) its input";
    else
      EXPECT_EQ(got, want);
  }
}

}  // namespace
}  // namespace perceptra
