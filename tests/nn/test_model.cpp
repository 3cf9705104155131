// Model specs: building, shape inference, errors naming layer and field,
// analyze(), round trip, naming, built-ins, seeded init.
#include <algorithm>
#include <cstring>
#include <set>

#include "core/nn/dropout.h"
#include "core/nn/model.h"
#include "core/tensor/error.h"
#include "nn_test_util.h"

namespace perceptra {
namespace {

using nlohmann::json;

json spec_with(json layers, json input = {1, 28, 28}, int classes = 10) {
  return {{"name", "test"}, {"input", input}, {"classes", classes}, {"layers", layers}};
}

std::string build_error(const json& spec) {
  Rng rng(1);
  try {
    Model::from_spec(spec, rng);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

json simplecnn() { return Model::builtin_spec("simplecnn", {1, 28, 28}, 10); }

TEST(ModelSpec, UnknownLayerType) {
  json s = simplecnn();
  s["layers"][2] = {{"type", "foo"}};
  std::string e = build_error(s);
  EXPECT_NE(e.find("layer 2 (foo): unknown layer type 'foo'"), std::string::npos) << e;
}

TEST(ModelSpec, NegativeKernelNamesLayerAndField) {
  json s = simplecnn();
  s["layers"][3]["kernel"] = -3;
  EXPECT_EQ(build_error(s), "layer 3 (conv2d): field 'kernel' must be a positive integer");
  s["layers"][3]["kernel"] = "big";
  EXPECT_EQ(build_error(s), "layer 3 (conv2d): field 'kernel' must be a positive integer");
}

TEST(ModelSpec, OtherBadFields) {
  json s = simplecnn();
  s["layers"][0]["padding"] = -1;
  EXPECT_EQ(build_error(s), "layer 0 (conv2d): field 'padding' must be a non-negative integer");
  s = simplecnn();
  s["layers"][7]["out_features"] = 0;
  EXPECT_EQ(build_error(s), "layer 7 (linear): field 'out_features' must be a positive integer");
  s = simplecnn();
  s["layers"][0].erase("out_channels");
  EXPECT_EQ(build_error(s), "layer 0 (conv2d): field 'out_channels' is required (a positive integer)");
  s = simplecnn();
  s["layers"][0]["kernal"] = 3;
  EXPECT_NE(build_error(s).find("layer 0 (conv2d): unknown field 'kernal'"), std::string::npos);
  s = simplecnn();
  s["layers"][3]["groups"] = 5;
  EXPECT_NE(build_error(s).find("layer 3 (conv2d): field 'groups' (5) must divide"), std::string::npos)
      << build_error(s);
  s = simplecnn();
  s["layers"].insert(s["layers"].begin() + 1, json{{"type", "dropout"}, {"p", 1.5}});
  EXPECT_EQ(build_error(s), "layer 1 (dropout): field 'p' must be a number in [0, 1)");
  s = simplecnn();
  s["layers"][0].erase("type");
  EXPECT_NE(build_error(s).find("layer 0 (?): field 'type' is missing"), std::string::npos);
}

TEST(ModelSpec, MissingFlattenIsExplained) {
  json s = simplecnn();
  s["layers"].erase(6);  // the flatten before fc128
  EXPECT_EQ(build_error(s),
            "layer 6 (linear): expects a flat input [features] but gets [64, 7, 7] - add a "
            "flatten layer");
}

TEST(ModelSpec, MismatchedShapes) {
  // A kernel larger than the feature map.
  json s = spec_with({{{"type", "conv2d"}, {"out_channels", 4}, {"kernel", 9}},
                      {{"type", "conv2d"}, {"out_channels", 4}, {"kernel", 30}},
                      {{"type", "flatten"}},
                      {{"type", "linear"}, {"out_features", 10}}});
  std::string e = build_error(s);
  EXPECT_NE(e.find("layer 1 (conv2d): field 'kernel' (30x30"), std::string::npos) << e;
  EXPECT_NE(e.find("does not fit the input 20x20"), std::string::npos) << e;
  // Pool on a flat input.
  s = spec_with({{{"type", "flatten"}}, {{"type", "maxpool2d"}, {"kernel", 2}}});
  e = build_error(s);
  EXPECT_NE(e.find("layer 1 (maxpool2d): expects an image input"), std::string::npos) << e;
  // Wrong number of outputs for the classes.
  s = spec_with({{{"type", "flatten"}}, {{"type", "linear"}, {"out_features", 7}}});
  e = build_error(s);
  EXPECT_NE(e.find("layer 1 (linear): the model ends with [7] but has 10 classes"), std::string::npos) << e;
  // batchnorm2d on a flat input.
  s = spec_with({{{"type", "flatten"}}, {{"type", "batchnorm2d"}}, {{"type", "linear"}, {"out_features", 10}}});
  EXPECT_NE(build_error(s).find("layer 1 (batchnorm2d): expects an image input"), std::string::npos);
}

TEST(ModelSpec, NestedResidualErrorsNameBothLayers) {
  json s = Model::builtin_spec("resnet-small", {3, 32, 32}, 10);
  s["layers"][4]["layers"][1] = {{"type", "batchnorm2d"}, {"eps", -1}};
  std::string e = build_error(s);
  EXPECT_EQ(e, "layer 4 (residual) > layer 1 (batchnorm2d): field 'eps' must be a number in [0, 1)");
  s = Model::builtin_spec("resnet-small", {3, 32, 32}, 10);
  s["layers"][5]["shortcut"] = "identity";  // first block of stage 2 downsamples
  e = build_error(s);
  EXPECT_NE(e.find("layer 5 (residual): field 'shortcut' is 'identity' but the branch changes "
                   "the shape [16, 32, 32] -> [32, 16, 16]"),
            std::string::npos)
      << e;
}

TEST(ModelSpec, TopLevelFields) {
  EXPECT_EQ(build_error(spec_with(json::array())), "model spec: field 'layers' must be a non-empty list of layers");
  json s = simplecnn();
  s["classes"] = 0;
  EXPECT_EQ(build_error(s), "model spec: field 'classes' must be a positive integer");
  s = simplecnn();
  s["input"] = {1, 28};
  EXPECT_NE(build_error(s).find("model spec: field 'input'"), std::string::npos);
}

TEST(ModelSpec, AnalyzeMarksOffendingRow) {
  json s = simplecnn();
  s["layers"].erase(6);
  auto rows = Model::analyze(s);
  ASSERT_EQ(rows.size(), 9u);
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(rows[i].error.empty()) << i;
    EXPECT_GT(rows[i].output.rank(), 0) << i;
  }
  EXPECT_EQ(rows[0].output, Shape({32, 28, 28}));
  EXPECT_EQ(rows[0].parameters, 320);
  EXPECT_EQ(rows[5].output, Shape({64, 7, 7}));
  EXPECT_NE(rows[6].error.find("add a flatten layer"), std::string::npos);
  EXPECT_EQ(rows[6].type, "linear");
  for (int i = 7; i < 9; ++i) {
    EXPECT_TRUE(rows[i].error.empty());
    EXPECT_EQ(rows[i].output.rank(), 0);
  }
  // A good spec: every row has a shape and the counts add up.
  auto good = Model::analyze(simplecnn());
  int64_t total = 0;
  for (auto& r : good) {
    EXPECT_TRUE(r.error.empty());
    total += r.parameters;
  }
  EXPECT_EQ(good.back().output, Shape({10}));
  EXPECT_EQ(total, 421642);
}

TEST(ModelSpec, AnalyzeLargeSpecWithoutFillingWeights) {
  // 77 M weights: analyze reads shapes and counts without initialising them.
  json s = spec_with({{{"type", "flatten"}},
                      {{"type", "linear"}, {"out_features", 512}},
                      {{"type", "relu"}},
                      {{"type", "linear"}, {"out_features", 10}}},
                     {3, 224, 224});
  auto rows = Model::analyze(s);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[1].parameters, int64_t{3 * 224 * 224} * 512 + 512);
  EXPECT_EQ(rows[3].output, Shape({10}));
}

TEST(Model, SpecRoundTrip) {
  for (const auto& name : Model::builtin_names()) {
    SCOPED_TRACE(name);
    json s = Model::builtin_spec(name, {3, 32, 32}, 10);
    Rng rng(1), rng2(1);
    auto m = Model::from_spec(s, rng);
    json back = m->spec();
    auto m2 = Model::from_spec(back, rng2);
    EXPECT_EQ(m2->spec(), back);
    EXPECT_EQ(m2->parameter_count(), m->parameter_count());
    auto p1 = m->parameters(), p2 = m2->parameters();
    ASSERT_EQ(p1.size(), p2.size());
    for (size_t i = 0; i < p1.size(); ++i) {
      EXPECT_EQ(p1[i]->name, p2[i]->name);
      EXPECT_EQ(p1[i]->value.to_vector(), p2[i]->value.to_vector()) << p1[i]->name;
    }
    EXPECT_EQ(back["name"], name);
    EXPECT_EQ(back["classes"], 10);
  }
}

TEST(Model, CustomNamesSurviveRoundTrip) {
  json s = spec_with({{{"type", "flatten"}},
                      {{"type", "linear"}, {"name", "hidden"}, {"out_features", 8}},
                      {{"type", "relu"}},
                      {{"type", "linear"}, {"out_features", 10}}},
                     {4});
  Rng rng(1);
  auto m = Model::from_spec(s, rng);
  EXPECT_EQ(m->parameters()[0]->name, "hidden.weight");
  EXPECT_EQ(m->parameters()[2]->name, "fc3.weight");
  json back = m->spec();
  EXPECT_EQ(back["layers"][1]["name"], "hidden");
  EXPECT_FALSE(back["layers"][3].contains("name"));
  s["layers"][3]["name"] = "hidden";
  EXPECT_NE(build_error(s).find("layer 3 (linear): field 'name': 'hidden' is used"), std::string::npos);
}

TEST(Model, StableParameterNames) {
  Rng rng(1);
  auto m = Model::from_spec(Model::builtin_spec("resnet-small", {3, 32, 32}, 10), rng);
  std::vector<std::string> names;
  for (Parameter* p : m->parameters()) names.push_back(p->name);
  ASSERT_GE(names.size(), 8u);
  EXPECT_EQ(names[0], "conv0.weight");
  EXPECT_EQ(names[1], "bn1.weight");
  EXPECT_EQ(names[2], "bn1.bias");
  EXPECT_EQ(names[3], "bn1.running_mean");
  EXPECT_EQ(names[4], "bn1.running_var");
  EXPECT_EQ(names[5], "res3.conv0.weight");
  EXPECT_EQ(names[6], "res3.bn1.weight");
  EXPECT_NE(std::find(names.begin(), names.end(), "res5.shortcut_conv.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "res5.shortcut_bn.running_var"), names.end());
  EXPECT_EQ(names.back(), "fc10.bias");
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  // Buffers are not trainable and have no gradient; BN and biases skip decay.
  for (Parameter* p : m->parameters()) {
    bool buffer = p->name.find("running_") != std::string::npos;
    EXPECT_EQ(p->trainable, !buffer) << p->name;
    EXPECT_EQ(p->grad.defined(), !buffer) << p->name;
    EXPECT_EQ(p->decay, p->value.rank() >= 2) << p->name;
  }
}

TEST(Model, SeededInitIsReproducible) {
  json s = Model::builtin_spec("resnet-small", {3, 16, 16}, 10);
  Rng a(123), b(123), c(124);
  auto ma = Model::from_spec(s, a), mb = Model::from_spec(s, b), mc = Model::from_spec(s, c);
  auto pa = ma->parameters(), pb = mb->parameters(), pc = mc->parameters();
  bool any_diff = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    std::vector<float> va = pa[i]->value.to_vector(), vb = pb[i]->value.to_vector(), vc = pc[i]->value.to_vector();
    ASSERT_EQ(va.size(), vb.size());
    EXPECT_EQ(0, std::memcmp(va.data(), vb.data(), va.size() * sizeof(float))) << pa[i]->name;
    if (pa[i]->value.rank() >= 2) {
      EXPECT_NE(va, vc) << pa[i]->name;
      any_diff = true;
    }
  }
  EXPECT_TRUE(any_diff);
}

TEST(Model, ForwardCollectAndSummary) {
  Rng rng(1);
  auto m = Model::from_spec(simplecnn(), rng);
  Tensor x = testing::random_tensor({2, 1, 28, 28}, rng);
  std::vector<Tensor> outs;
  Tensor y = m->forward_collect(x, outs);
  ASSERT_EQ(outs.size(), 10u);
  EXPECT_EQ(outs[0].shape(), Shape({2, 32, 28, 28}));
  EXPECT_EQ(outs[5].shape(), Shape({2, 64, 7, 7}));
  EXPECT_EQ(y.shape(), Shape({2, 10}));
  EXPECT_EQ(outs.back().to_vector(), y.to_vector());
  EXPECT_FALSE(outs.back().shares_storage_with(y));  // value copies
  EXPECT_EQ(m->forward(x, false).to_vector(), y.to_vector());
  auto rows = m->summary();
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows[3].name, "conv3");
  EXPECT_EQ(rows[3].output, Shape({64, 14, 14}));
  EXPECT_EQ(rows[3].parameters, 18496);
  EXPECT_EQ(rows[9].name, "fc9");
  // Wrong input shape is a clear error.
  try {
    m->forward(testing::random_tensor({2, 3, 28, 28}, rng), false);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "model input: expects [batch, 1, 28, 28] but gets [2, 3, 28, 28]");
  }
  m->to(Device::cpu());
  EXPECT_EQ(m->device(), Device::cpu());
}

TEST(Model, BuiltinShapes) {
  EXPECT_EQ(Model::builtin_names().size(), 7u);
  for (const auto& name : Model::builtin_names())
    for (Shape in : {Shape{1, 28, 28}, Shape{3, 32, 32}}) {
      Rng rng(2);
      auto m = Model::from_spec(Model::builtin_spec(name, in, 7), rng);
      Tensor y = m->forward(testing::random_tensor(Shape{2, in[0], in[1], in[2]}, rng), true);
      EXPECT_EQ(y.shape(), Shape({2, 7})) << name;
    }
  EXPECT_THROW(Model::builtin_spec("vgg", {1, 28, 28}, 10), InputError);
  EXPECT_THROW(Model::builtin_spec("lenet5", {784}, 10), InputError);
  // The MLP works on flat inputs too.
  Rng rng(3);
  auto mlp = Model::from_spec(Model::builtin_spec("mlp", {20}, 3), rng);
  EXPECT_EQ(mlp->parameter_count(), 20 * 512 + 512 + 512 * 256 + 256 + 256 * 3 + 3);
}

TEST(Model, BackwardFillsEveryGradient) {
  Rng rng(4);
  auto m = Model::from_spec(Model::builtin_spec("resnet-small", {1, 8, 8}, 3), rng);
  Tensor x = testing::random_tensor({4, 1, 8, 8}, rng);
  Tensor y = m->forward(x, true);
  Tensor dx = m->backward(testing::random_tensor(y.shape(), rng));
  EXPECT_EQ(dx.shape(), x.shape());
  for (Parameter* p : m->parameters()) {
    if (!p->grad.defined()) continue;
    double s = 0;
    for (float v : p->grad.to_vector()) s += std::abs(v);
    EXPECT_GT(s, 0) << p->name;
  }
}

std::vector<std::vector<float>> grads_of(Model& m) {
  std::vector<std::vector<float>> g;
  for (Parameter* p : m.parameters()) g.push_back(p->grad.defined() ? p->grad.to_vector() : std::vector<float>{});
  return g;
}

// Restarts every dropout mask sequence (mobilenet_v2 has dropout), so
// repeated training forwards are the same computation.
void rewind_dropout(Model& m) {
  for (Layer* l : m.layers())
    if (auto* d = dynamic_cast<Dropout*>(l)) d->set_state(d->seed(), 0);
}

TEST(Model, TrainingBackwardSkipsOnlyTheInputGradient) {
  for (const auto& name : Model::builtin_names()) {
    Rng rng(11);
    auto m = Model::from_spec(Model::builtin_spec(name, {1, 28, 28}, 10), rng);
    Tensor x = testing::random_tensor({4, 1, 28, 28}, rng);
    Tensor dy = testing::random_tensor({4, 10}, rng);
    m->forward(x, true);
    Tensor dx_full = m->backward(dy);
    auto full = grads_of(*m);
    rewind_dropout(*m);
    m->forward(x, true);
    EXPECT_FALSE(m->backward(dy, /*need_input_grad=*/false).defined()) << name;
    EXPECT_EQ(grads_of(*m), full) << name << ": parameter gradients must not change";
    // The next backward that wants dL/dx gets it again (the flag is per call).
    rewind_dropout(*m);
    m->forward(x, true);
    Tensor dx_again = m->backward(dy);
    ASSERT_TRUE(dx_again.defined()) << name;
    EXPECT_EQ(dx_again.to_vector(), dx_full.to_vector()) << name;
  }
}

TEST(Model, TrainingBackwardStopsAtTheFirstLayerThatTrains) {
  // SimpleCNN with both convolutions frozen (transfer learning's body): the
  // frozen layers get no backward at all, the head's gradients are unchanged.
  Rng rng(12);
  auto m = Model::from_spec(simplecnn(), rng);
  Tensor x = testing::random_tensor({3, 1, 28, 28}, rng);
  Tensor dy = testing::random_tensor({3, 10}, rng);
  m->forward(x, true);
  m->backward(dy);
  auto full = grads_of(*m);
  auto params = m->parameters();
  for (size_t i = 0; i < 4; ++i) {  // conv0 and conv3, weights and biases
    ASSERT_EQ(params[i]->name.rfind("conv", 0), 0u) << params[i]->name;
    params[i]->trainable = false;
    params[i]->grad.fill(-7.f);  // sentinel: must stay
  }
  m->forward(x, true);
  m->backward(dy, /*need_input_grad=*/false);
  auto now = grads_of(*m);
  for (size_t i = 0; i < params.size(); ++i) {
    if (i < 4)
      EXPECT_EQ(now[i], std::vector<float>(now[i].size(), -7.f)) << params[i]->name;
    else
      EXPECT_EQ(now[i], full[i]) << params[i]->name;
  }
}

}  // namespace
}  // namespace perceptra
