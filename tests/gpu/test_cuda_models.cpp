// One full training step (forward in training mode, softmax cross-entropy,
// backward, optimizer step) of every built-in model, and of a spec using the
// remaining layer kinds, on the CUDA device against the CPU backend.
// Both models are built from the same spec and seed (weights are drawn on the
// host, then moved), fed the same batch.
// Tolerances (|gpu - cpu| <= atol + rtol |cpu|, atol scaled by the tensor's
// largest magnitude): logits and loss 1e-4; gradients 1e-3; parameters after
// the step 1e-5 + lr * (gradient tolerance) absolute;
// batch-norm running statistics 1e-4.
#include <algorithm>
#include <cmath>

#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "parity_harness.h"

using namespace perceptra;
using parity::expect_close;

namespace {

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, (double)std::fabs(x));
  return m;
}

struct StepResult {
  std::vector<float> logits;
  double loss = 0;
  std::vector<std::vector<float>> grads, values;
  std::vector<std::string> names;
};

StepResult train_step(const nlohmann::json& spec, Device dev, const std::vector<float>& xs, const Shape& xshape,
                      const std::vector<float>& labels, const OptimizerConfig& oc) {
  Rng rng(2024);
  auto model = Model::from_spec(spec, rng, dev);
  Tensor x = Tensor::from_vector(xshape, xs, dev);
  Tensor y = Tensor::from_vector({static_cast<int64_t>(labels.size())}, labels, dev);
  Tensor logits = model->forward(x, true);
  SoftmaxCrossEntropy xent(0.1f);
  StepResult r;
  r.loss = xent.forward(logits, y);
  model->backward(xent.backward());
  for (Parameter* p : model->parameters())
    if (p->grad.defined())
      r.grads.push_back(p->grad.to_vector());
    else
      r.grads.emplace_back();
  auto opt = make_optimizer(oc, model->parameters());
  opt->step();
  r.logits = logits.to_vector();
  for (Parameter* p : model->parameters()) {
    r.values.push_back(p->value.to_vector());
    r.names.push_back(p->name);
  }
  return r;
}

struct ModelCase {
  std::string name;
  std::vector<int64_t> input;  // per sample [C, H, W]
};

}  // namespace

class CudaModelStep : public parity::DeviceTest, public ::testing::WithParamInterface<ModelCase> {};

TEST_P(CudaModelStep, MatchesCpu) {
  const ModelCase& mc = GetParam();
  const int N = 16, classes = 10;
  Shape sample(mc.input);
  nlohmann::json spec;
  if (mc.name == "all-layers") {
    spec = {
        {"name", "all-layers"},
        {"input", mc.input},
        {"classes", classes},
        {"layers",
         // Layers feeding batch-norm have no bias: its gradient would be
         // rounding noise, which Adam's first step turns into +-lr updates.
         {{{"type", "conv2d"}, {"out_channels", 8}, {"kernel", 3}, {"padding", 2}, {"dilation", 2}, {"bias", false}},
          {{"type", "batchnorm2d"}},
          {{"type", "leaky_relu"}, {"slope", 0.1}},
          {{"type", "conv2d"}, {"out_channels", 8}, {"kernel", 3}, {"stride", 2}, {"padding", 1}, {"groups", 4}},
          {{"type", "gelu"}},
          {{"type", "avgpool2d"}, {"kernel", 2}},
          {{"type", "flatten"}},
          {{"type", "linear"}, {"out_features", 32}, {"bias", false}},
          {{"type", "batchnorm1d"}},
          {{"type", "tanh"}},
          {{"type", "dropout"}, {"p", 0.3}},
          {{"type", "linear"}, {"out_features", 16}},
          {{"type", "sigmoid"}},
          {{"type", "linear"}, {"out_features", classes}}}}};
  } else {
    spec = Model::builtin_spec(mc.name, sample, classes);
  }
  std::vector<int64_t> dims = {N};  // [N, C, H, W]
  dims.insert(dims.end(), mc.input.begin(), mc.input.end());
  const Shape xshape(dims);
  auto xs = parity::randv(static_cast<size_t>(xshape.numel()), 77);
  std::vector<float> labels(N);
  for (int i = 0; i < N; ++i) labels[i] = static_cast<float>((i * 3) % classes);

  for (const char* kind : {"sgd", "adamw"}) {
    OptimizerConfig oc;
    oc.kind = kind;
    oc.lr = kind == std::string("sgd") ? 0.05f : 1e-3f;
    oc.momentum = 0.9f;
    oc.weight_decay = 5e-4f;
    SCOPED_TRACE(std::string(mc.name) + " / " + kind);
    StepResult ref = train_step(spec, Device::cpu(), xs, xshape, labels, oc);
    StepResult got = train_step(spec, dev, xs, xshape, labels, oc);
    expect_close(got.logits, ref.logits, 1e-4, 1e-4 * max_abs(ref.logits), "logits");
    EXPECT_NEAR(got.loss, ref.loss, 1e-4 * std::fabs(ref.loss));
    ASSERT_EQ(got.values.size(), ref.values.size());
    for (size_t i = 0; i < ref.values.size(); ++i) {
      const double gmax = ref.grads[i].empty() ? 0 : max_abs(ref.grads[i]);
      if (!ref.grads[i].empty()) expect_close(got.grads[i], ref.grads[i], 1e-3, 1e-3 * gmax, ref.names[i] + " grad");
      const bool running = ref.names[i].find("running") != std::string::npos;
      // An SGD step moves a weight by lr * grad: the gradient tolerance, scaled by lr.
      expect_close(got.values[i], ref.values[i], running ? 1e-4 : 0, running ? 1e-4 : 1e-5 + oc.lr * 1e-3 * gmax,
                   ref.names[i] + " after step");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaModelStep,
                         ::testing::Values(ModelCase{"mlp", {1, 28, 28}}, ModelCase{"lenet5", {1, 28, 28}},
                                           ModelCase{"simplecnn", {1, 28, 28}}, ModelCase{"resnet-small", {3, 32, 32}},
                                           ModelCase{"all-layers", {3, 16, 16}}),
                         [](const ::testing::TestParamInfo<ModelCase>& i) {
                           std::string n = i.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });
