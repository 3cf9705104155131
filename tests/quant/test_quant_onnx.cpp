// QDQ ONNX export of int8 models: checker-valid (export_qdq_onnx_bytes runs
// onnx::checker and strict shape inference), the expected operators and
// initializer types, and ONNX Runtime (npm onnxruntime-node, installed by
// scripts/setup; a missing runtime fails the test) agreeing with the
// engine's int8 predictions on real Fashion-MNIST images.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>

#include <unistd.h>

#include "core/quant/onnx_qdq_export.h"
#include "core/quant/post_training.h"
#include "tests/quant/quant_test_util.h"

using namespace perceptra;
using namespace perceptra::quant;
using namespace perceptra::quanttest;

namespace {

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("perceptra_qdq_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

// ONNX Runtime's logits for raw-pixel input x (the graph normalises).
std::vector<float> run_ort(const std::string& model, const Tensor& x) {
  const std::string modules = PERCEPTRA_ORT_NODE_MODULES;
  if (!std::filesystem::exists(modules + "/onnxruntime-node/package.json")) {
    ADD_FAILURE() << "ONNX Runtime (npm onnxruntime-node) is not installed in " << modules << ": run scripts/setup";
    return {};
  }
  const std::string dir = temp_dir(), in = dir + "/input.f32", out = dir + "/output.f32";
  auto v = x.to_vector();
  std::ofstream(in, std::ios::binary)
      .write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  const std::string cmd = "NODE_PATH='" + modules + "' node '" + PERCEPTRA_SOURCE_DIR + "/tests/quant/run_ort.js' '" +
                          model + "' '" + in + "' " + std::to_string(x.dim(0)) + " " + std::to_string(x.dim(1)) + " " +
                          std::to_string(x.dim(2)) + " " + std::to_string(x.dim(3)) + " '" + out + "'";
  if (std::system(cmd.c_str()) != 0) {
    ADD_FAILURE() << "ONNX Runtime failed: " << cmd;
    return {};
  }
  std::ifstream f(out, std::ios::binary);
  std::string b(std::istreambuf_iterator<char>(f), {});
  std::vector<float> logits(b.size() / sizeof(float));
  std::memcpy(logits.data(), b.data(), logits.size() * sizeof(float));
  return logits;
}

class QdqExport : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(QdqExport, OnnxRuntimeAgreesWithTheEngineInt8) {
  auto model = make_model(GetParam());
  Tensor x = fashion_images();
  PtqOptions o;
  PtqResult r = quantize_post_training(*model, x, nullptr, o);
  if (GetParam() == "resnet-small") {  // one float layer inside a block, exported in float
    r.qmodel->find("res4.conv0")->quantized = false;
    r.qmodel->finalize();
  }
  const ModelMeta meta = fashion_meta();
  const std::string bytes = export_qdq_onnx_bytes(*r.qmodel, meta);
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(bytes));
  EXPECT_EQ(m.opset_import(0).version(), 13);
  int q = 0, dq = 0, per_axis = 0;
  for (const auto& n : m.graph().node()) {
    q += n.op_type() == "QuantizeLinear";
    if (n.op_type() == "DequantizeLinear") {
      ++dq;
      for (const auto& a : n.attribute()) per_axis += a.name() == "axis";
    }
  }
  EXPECT_EQ(per_axis, r.qmodel->quantized_count());  // one per-axis weight DQ per int8 layer
  EXPECT_GE(q, r.qmodel->quantized_count());
  EXPECT_EQ(dq, q + per_axis);
  size_t int8_bytes = 0, float_weights = 0;
  for (const auto& t : m.graph().initializer()) {
    if (t.data_type() == onnx::TensorProto::INT8 && t.dims_size() > 1) int8_bytes += t.raw_data().size();
    if (t.data_type() == onnx::TensorProto::FLOAT && t.dims_size() > 1) float_weights += t.raw_data().size();
  }
  EXPECT_GT(int8_bytes, float_weights);

  const std::string path = temp_dir() + "/" + GetParam() + "_int8.onnx";
  export_qdq_onnx(path, *r.qmodel, meta);
  // Raw pixels in [0, 1]: the graph applies (x - mean) / std itself.
  auto v = x.to_vector();
  for (auto& p : v) p = p * meta.std[0] + meta.mean[0];
  std::vector<float> ort = run_ort(path, Tensor::from_vector(x.shape(), v));
  ASSERT_EQ(ort.size(), size_t(kImages * 10));
  auto ours = r.qmodel->infer_int8(x).to_vector();
  double range = 0, diff = 0;
  int agree = 0;
  for (int i = 0; i < kImages; ++i) {
    auto a = ours.begin() + i * 10, b = ort.begin() + i * 10;
    agree += std::max_element(a, a + 10) - a == std::max_element(b, b + 10) - b;
    for (int k = 0; k < 10; ++k) {
      range = std::max(range, double(std::fabs(a[k])));
      diff = std::max(diff, double(std::fabs(a[k] - b[k])));
    }
  }
  EXPECT_GE(agree, kImages - 1);
  EXPECT_LT(diff, 0.05 * range) << "max logit difference " << diff << " of " << range;
}

INSTANTIATE_TEST_SUITE_P(Builtins, QdqExport, ::testing::Values("simplecnn", "resnet-small", "mlp"));
