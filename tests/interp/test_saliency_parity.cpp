// Grad-CAM and input-gradient saliency against PyTorch (fixture made by
// tests/fixtures/interp/gen_gradcam.py): conv + BatchNorm (eval) + ReLU +
// max-pool + conv + linear, so the gradients cross every kind of layer.
#include <gtest/gtest.h>

#include <fstream>

#include "core/interp/saliency.h"
#include "tests/interp/test_util.h"

using namespace perceptra;
using nlohmann::json;

namespace {

json load_fixture() {
  std::ifstream in(std::string(PERCEPTRA_FIXTURES_DIR) + "/interp/gradcam.json");
  EXPECT_TRUE(in.good()) << "missing fixture tests/fixtures/interp/gradcam.json";
  return json::parse(in);
}

void expect_close(const std::vector<float>& got, const json& want, float tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i].get<float>(), tol) << what << " [" << i << "]";
}

}  // namespace

TEST(SaliencyParity, MatchesPyTorch) {
  json f = load_fixture();
  auto m = test::build(f["spec"]);
  std::vector<Parameter*> params = m->parameters();
  ASSERT_EQ(params.size(), f["parameters"].size());
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<float> v = f["parameters"][i]["values"].get<std::vector<float>>();
    ASSERT_EQ(static_cast<int64_t>(v.size()), params[i]->value.numel()) << params[i]->name;
    params[i]->value.copy_from(Tensor::from_vector(params[i]->value.shape(), v));
  }
  const Shape in = m->input_shape();
  Tensor x = Tensor::from_vector({1, in[0], in[1], in[2]}, f["input"].get<std::vector<float>>());
  expect_close(m->forward(x, false).to_vector(), f["logits"], 1e-4f, "logits");

  for (const json& g : f["gradcam"]) {
    SCOPED_TRACE("grad-cam layer " + g["layer"].dump() + " target " + g["target"].dump());
    int layer = g["layer"].get<int>();
    HeatMap h = grad_cam(*m, x, g["target"].get<int>(), layer == 5 ? -1 : layer);
    EXPECT_EQ(h.layer_index, layer);
    expect_close(h.channel_weights, g["weights"], 1e-5f, "weights");
    expect_close(h.coarse, g["coarse"], 1e-4f, "coarse");
    expect_close(h.values, g["values"], 1e-4f, "values");
  }
  for (const json& s : f["saliency"]) {
    SCOPED_TRACE("saliency target " + s["target"].dump());
    HeatMap h = input_gradient_saliency(*m, x, s["target"].get<int>());
    expect_close(h.values, s["values"], 1e-4f, "values");
  }
  HeatMap pred = grad_cam(*m, x);
  EXPECT_EQ(pred.target_class, f["predicted"].get<int>());
}
