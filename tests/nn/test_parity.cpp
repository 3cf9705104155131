// Parity with PyTorch 1.13 (fixtures written by tests/fixtures/make_nn_fixtures.py).
// Tolerance: |ours - torch| <= 1e-5 + 1e-4 * |torch| for layers and losses
// (float32, different summation orders), 1e-4 + 1e-3 * |torch| for whole
// models (errors compound through ~20 layers).
#include <cmath>

#include "core/nn/init.h"
#include "core/nn/layer_factory.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "nn_test_util.h"

namespace perceptra {
namespace {

using nlohmann::json;
using testing::expect_close;
using testing::floats;

constexpr double kRtol = 1e-4, kAtol = 1e-5;

void set_params(Layer& layer, const json& values, const std::string& what) {
  auto params = layer.parameters();
  ASSERT_EQ(params.size(), values.size()) << what << ": parameter count differs from PyTorch's";
  for (size_t k = 0; k < params.size(); ++k) {
    std::vector<float> v = floats(values[k]);
    ASSERT_EQ(static_cast<int64_t>(v.size()), params[k]->value.numel())
        << what << ": tensor " << k << " (" << params[k]->name << ") size";
    params[k]->value.copy_from(Tensor::from_vector(params[k]->value.shape(), v));
  }
}

TEST(TorchParity, Layers) {
  json fx = testing::load_fixture("layers.json");
  ASSERT_TRUE(fx.contains("cases"));
  int checked = 0;
  for (const auto& c : fx["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    Shape in(c["input_shape"].get<std::vector<int64_t>>());
    LayerPtr layer = make_layer(c["spec"], in, name);
    set_params(*layer, c["params"], name);
    Tensor x = Tensor::from_vector(in, floats(c["x"]));
    Tensor y = layer->forward(x, c["train"].get<bool>());
    EXPECT_EQ(y.shape(), Shape(c["output_shape"].get<std::vector<int64_t>>()));
    expect_close(y.to_vector(), floats(c["y"]), kRtol, kAtol, name + " forward");
    Tensor dx = layer->backward(Tensor::from_vector(y.shape(), floats(c["dy"])));
    expect_close(dx.to_vector(), floats(c["dx"]), kRtol, kAtol, name + " dx");
    auto params = layer->parameters();
    for (size_t k = 0; k < params.size(); ++k) {
      if (!params[k]->grad.defined()) continue;
      ASSERT_FALSE(c["grads"][k].is_null()) << name << " tensor " << k;
      expect_close(params[k]->grad.to_vector(), floats(c["grads"][k]), kRtol, kAtol,
                   name + " grad of " + params[k]->name);
    }
    // Running statistics after the forward (updated only in training).
    for (size_t k = 0; k < params.size(); ++k)
      expect_close(params[k]->value.to_vector(), floats(c["params_after"][k]), kRtol, kAtol,
                   name + " " + params[k]->name + " after forward");
    ++checked;
  }
  EXPECT_GE(checked, 25);
}

TEST(TorchParity, Losses) {
  json fx = testing::load_fixture("losses.json");
  ASSERT_TRUE(fx.contains("cases"));
  for (const auto& c : fx["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    Shape s(c["shape"].get<std::vector<int64_t>>());
    if (c["kind"] == "xent") {
      SoftmaxCrossEntropy loss(c["smoothing"].get<float>());
      Tensor labels = Tensor::from_vector({s[0]}, floats(c["labels"]));
      double l = loss.forward(Tensor::from_vector(s, floats(c["logits"])), labels);
      EXPECT_NEAR(l, c["loss"].get<double>(), 1e-5 + 1e-5 * std::abs(c["loss"].get<double>()));
      expect_close(loss.per_sample_loss().to_vector(), floats(c["per_sample"]), kRtol, kAtol, name + " per-sample");
      expect_close(loss.probs().to_vector(), floats(c["probs"]), kRtol, kAtol, name + " probs");
      expect_close(loss.backward().to_vector(), floats(c["dlogits"]), kRtol, kAtol, name + " dlogits");
    } else {
      MSELoss loss;
      double l = loss.forward(Tensor::from_vector(s, floats(c["pred"])), Tensor::from_vector(s, floats(c["target"])));
      EXPECT_NEAR(l, c["loss"].get<double>(), 1e-6);
      expect_close(loss.backward().to_vector(), floats(c["dpred"]), kRtol, kAtol, name + " dpred");
    }
  }
}

TEST(TorchParity, BuiltinParameterCounts) {
  json fx = testing::load_fixture("models.json");
  ASSERT_TRUE(fx.contains("counts"));
  for (const auto& c : fx["counts"]) {
    Shape input(c["input"].get<std::vector<int64_t>>());
    int classes = c["classes"];
    for (const auto& [name, count] : c["counts"].items()) {
      Rng rng(1);
      auto model = Model::from_spec(Model::builtin_spec(name, input, classes), rng);
      EXPECT_EQ(model->parameter_count(), count.get<int64_t>())
          << name << " for " << input.str() << ", " << classes << " classes";
    }
  }
}

// Same deterministic weights on both sides (formula_value in the script).
float formula_value(const Parameter& p, int k, int64_t i) {
  double s = std::sin(0.37 * static_cast<double>(i) + 1.3 * k + 0.5);
  auto ends = [&](const char* suffix) {
    std::string n = p.name, x = suffix;
    return n.size() >= x.size() && n.compare(n.size() - x.size(), x.size(), x) == 0;
  };
  if (ends("running_var")) return static_cast<float>(1.0 + 0.3 * s);
  if (ends("running_mean")) return static_cast<float>(0.1 * s);
  if (p.value.rank() >= 2)
    return static_cast<float>(s / std::sqrt(static_cast<double>(compute_fans(p.value.shape()).fan_in)));
  if (ends(".weight")) return static_cast<float>(1.0 + 0.2 * s);  // BatchNorm gamma
  return static_cast<float>(0.1 * s);
}

TEST(TorchParity, BuiltinModelsForwardBackward) {
  json fx = testing::load_fixture("models.json");
  ASSERT_TRUE(fx.contains("forwards"));
  for (const auto& c : fx["forwards"]) {
    const std::string name = c["name"];
    const bool train = c["train"];
    SCOPED_TRACE(name + (train ? " train" : " eval"));
    Shape input(c["input"].get<std::vector<int64_t>>());
    int batch = c["batch"], classes = c["classes"];
    Rng rng(1);
    auto model = Model::from_spec(Model::builtin_spec(name, input, classes), rng);
    auto params = model->parameters();
    for (size_t k = 0; k < params.size(); ++k) {
      std::vector<float> v(static_cast<size_t>(params[k]->value.numel()));
      for (size_t i = 0; i < v.size(); ++i) v[i] = formula_value(*params[k], static_cast<int>(k), i);
      params[k]->value.copy_from(Tensor::from_vector(params[k]->value.shape(), v));
    }
    std::vector<int64_t> dims = {batch};
    for (auto d : input.dims()) dims.push_back(d);
    std::vector<float> xv(static_cast<size_t>(Shape(dims).numel()));
    for (size_t i = 0; i < xv.size(); ++i)
      xv[i] =
          static_cast<float>(std::sin(0.11 * static_cast<double>(i)) + 0.5 * std::cos(0.07 * static_cast<double>(i)));
    Tensor x = Tensor::from_vector(Shape(dims), xv);
    Tensor logits = model->forward(x, train);
    expect_close(logits.to_vector(), floats(c["logits"]), 1e-3, 1e-4, "logits");
    SoftmaxCrossEntropy loss;
    double l = loss.forward(logits, Tensor::from_vector({batch}, floats(c["labels"])));
    EXPECT_NEAR(l, c["loss"].get<double>(), 1e-3 * std::max(1.0, std::abs(c["loss"].get<double>())));
    Tensor dx = model->backward(loss.backward());
    expect_close(dx.to_vector(), floats(c["dx"]), 1e-3, 1e-4, "dx");
    expect_close(params.front()->grad.to_vector(), floats(c["first_weight_grad"]), 1e-3, 1e-4,
                 params.front()->name + " grad");
    expect_close(params.back()->grad.to_vector(), floats(c["last_bias_grad"]), 1e-3, 1e-4,
                 params.back()->name + " grad");
    size_t r = 0;
    for (Parameter* p : params) {
      if (p->grad.defined()) continue;
      ASSERT_LT(r, c["running_after"].size());
      expect_close(p->value.to_vector(), floats(c["running_after"][r++]), 1e-3, 1e-4, p->name);
    }
    EXPECT_EQ(r, c["running_after"].size());
  }
}

}  // namespace
}  // namespace perceptra
