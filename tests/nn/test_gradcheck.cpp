// Numerical gradient checks (central differences, double accumulation) of
// every layer and loss, for inputs and parameters.
#include "core/nn/layer_factory.h"
#include "core/nn/loss.h"
#include "nn_test_util.h"

namespace perceptra {
namespace {

using nlohmann::json;
using testing::check_gradients;
using testing::GradCheckOptions;

struct Case {
  const char* label;
  json spec;
  Shape input;
  bool distinct = false;  // max pooling: spaced values
  float min_abs = 0.f;    // relu: keep away from 0
  bool training = true;
  float h = 1e-2f;
  float scale = 1.f;  // input spread (relu6: past its upper bound)
};

class LayerGradCheck : public ::testing::TestWithParam<Case> {};

TEST_P(LayerGradCheck, MatchesCentralDifferences) {
  const Case& c = GetParam();
  Rng rng(42);
  LayerPtr layer = make_layer(c.spec, c.input, c.label);
  layer->reset_parameters(rng);
  // BatchNorm in eval: non-trivial running statistics.
  for (Parameter* p : layer->parameters()) {
    if (p->name.find("running_mean") != std::string::npos)
      p->value.copy_from(testing::random_tensor(p->value.shape(), rng, 0.3f));
    if (p->name.find("running_var") != std::string::npos) p->value.copy_from(Tensor::full(p->value.shape(), 0.7f));
    if (p->name == "weight" && p->value.rank() == 1)  // BN gamma away from 1
      p->value.copy_from(testing::random_tensor(p->value.shape(), rng, 0.5f, 0.3f));
  }
  Tensor x =
      c.distinct ? testing::distinct_tensor(c.input, rng) : testing::random_tensor(c.input, rng, c.scale, c.min_abs);
  GradCheckOptions o;
  o.training = c.training;
  o.h = c.h;
  EXPECT_EQ(check_gradients(*layer, x, o), 0);
}

json conv(json extra) {
  json j = {{"type", "conv2d"}};
  j.update(extra);
  return j;
}

std::vector<Case> cases() {
  json block = json::array({conv({{"out_channels", 3}, {"kernel", 3}, {"padding", 1}}),
                            {{"type", "batchnorm2d"}},
                            {{"type", "tanh"}},
                            conv({{"out_channels", 3}, {"kernel", 3}, {"padding", 1}}),
                            {{"type", "batchnorm2d"}}});
  json down = json::array({conv({{"out_channels", 4}, {"kernel", 3}, {"padding", 1}, {"stride", 2}}),
                           {{"type", "batchnorm2d"}},
                           {{"type", "gelu"}},
                           conv({{"out_channels", 4}, {"kernel", 3}, {"padding", 1}})});
  return {
      {"linear", {{"type", "linear"}, {"out_features", 4}}, {3, 5}},
      {"linear_nobias", {{"type", "linear"}, {"out_features", 2}, {"bias", false}}, {2, 6}},
      {"conv", conv({{"out_channels", 3}, {"kernel", 3}, {"padding", 1}}), {2, 2, 5, 5}},
      {"conv_stride_pad", conv({{"out_channels", 3}, {"kernel", 3}, {"stride", 2}, {"padding", 1}}), {2, 2, 6, 6}},
      {"conv_dilated", conv({{"out_channels", 2}, {"kernel", 3}, {"dilation", 2}, {"padding", 2}}), {1, 2, 6, 6}},
      {"conv_grouped", conv({{"out_channels", 4}, {"kernel", 3}, {"groups", 2}, {"padding", 1}}), {2, 4, 4, 4}},
      {"conv_depthwise", conv({{"out_channels", 3}, {"kernel", 3}, {"groups", 3}, {"stride", 2}}), {1, 3, 5, 5}},
      {"conv_rect",
       conv({{"out_channels", 2}, {"kernel", {3, 2}}, {"stride", {2, 1}}, {"padding", {1, 0}}}),
       {2, 2, 5, 4}},
      {"maxpool", {{"type", "maxpool2d"}, {"kernel", 2}}, {2, 2, 4, 4}, true},
      {"maxpool_3s2p1", {{"type", "maxpool2d"}, {"kernel", 3}, {"stride", 2}, {"padding", 1}}, {1, 2, 5, 5}, true},
      {"avgpool", {{"type", "avgpool2d"}, {"kernel", 2}}, {2, 2, 4, 4}},
      {"avgpool_3s2p1", {{"type", "avgpool2d"}, {"kernel", 3}, {"stride", 2}, {"padding", 1}}, {1, 2, 5, 5}},
      {"global_avgpool", {{"type", "global_avgpool"}}, {2, 3, 3, 2}},
      {"relu", {{"type", "relu"}}, {3, 7}, false, 0.1f},
      {"leaky_relu", {{"type", "leaky_relu"}, {"slope", 0.2}}, {3, 7}, false, 0.1f},
      {"gelu", {{"type", "gelu"}}, {3, 7}},
      {"relu6", {{"type", "relu6"}}, {4, 9}, false, 0.1f, true, 1e-2f, 5.f},
      {"sigmoid", {{"type", "sigmoid"}}, {3, 7}},
      {"tanh", {{"type", "tanh"}}, {2, 3, 2, 2}},
      {"flatten", {{"type", "flatten"}}, {2, 3, 2, 2}},
      {"bn1d_train", {{"type", "batchnorm1d"}}, {5, 3}},
      {"bn1d_train_ncl", {{"type", "batchnorm1d"}}, {3, 2, 4}},
      {"bn2d_train", {{"type", "batchnorm2d"}}, {3, 2, 3, 3}},
      {"bn1d_eval", {{"type", "batchnorm1d"}}, {4, 3}, false, 0.f, false},
      {"bn2d_eval", {{"type", "batchnorm2d"}}, {2, 3, 2, 2}, false, 0.f, false},
      {"dropout_eval", {{"type", "dropout"}, {"p", 0.5}}, {2, 5}, false, 0.f, false},
      {"residual_identity",
       {{"type", "residual"}, {"layers", block}, {"activation", "none"}},
       {2, 3, 4, 4},
       false,
       0.f,
       true,
       2e-3f},
      {"residual_projection_relu", {{"type", "residual"}, {"layers", down}}, {2, 2, 5, 5}, false, 0.f, true, 1e-3f},
      {"residual_flat",
       {{"type", "residual"},
        {"activation", "none"},
        {"layers", json::array({{{"type", "linear"}, {"out_features", 4}}, {{"type", "tanh"}}})}},
       {4, 3},
       false,
       0.f,
       true,
       2e-3f},
  };
}

INSTANTIATE_TEST_SUITE_P(Layers, LayerGradCheck, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.label); });

double xent(const std::vector<float>& logits, const Tensor& labels, int N, int C, float s) {
  SoftmaxCrossEntropy loss(s);
  return loss.forward(Tensor::from_vector({N, C}, logits), labels);
}

TEST(LossGradCheck, SoftmaxCrossEntropy) {
  for (float smoothing : {0.f, 0.2f}) {
    Rng rng(3);
    const int N = 4, C = 5;
    Tensor logits = testing::random_tensor({N, C}, rng, 2.f);
    Tensor labels = Tensor::from_vector({N}, {0, 4, 2, 2});
    SoftmaxCrossEntropy loss(smoothing);
    loss.forward(logits, labels);
    std::vector<float> d = loss.backward().to_vector();
    std::vector<float> l = logits.to_vector();
    const float h = 1e-2f;
    for (size_t i = 0; i < l.size(); ++i) {
      auto p = l, m = l;
      p[i] += h;
      m[i] -= h;
      double num = (xent(p, labels, N, C, smoothing) - xent(m, labels, N, C, smoothing)) / (2 * h);
      EXPECT_NEAR(d[i], num, 1e-3) << "smoothing " << smoothing << " element " << i;
    }
  }
}

TEST(LossGradCheck, MSE) {
  Rng rng(5);
  Tensor p = testing::random_tensor({3, 4}, rng), t = testing::random_tensor({3, 4}, rng);
  MSELoss loss;
  loss.forward(p, t);
  std::vector<float> d = loss.backward().to_vector(), pv = p.to_vector();
  const float h = 1e-2f;
  for (size_t i = 0; i < pv.size(); ++i) {
    auto a = pv, b = pv;
    a[i] += h;
    b[i] -= h;
    MSELoss la, lb;
    double num =
        (la.forward(Tensor::from_vector({3, 4}, a), t) - lb.forward(Tensor::from_vector({3, 4}, b), t)) / (2 * h);
    EXPECT_NEAR(d[i], num, 1e-3) << "element " << i;
  }
}

}  // namespace
}  // namespace perceptra
