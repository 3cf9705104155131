// ONNX export: checker-valid graphs that OpenCV's DNN module (4.6, Debian)
// runs with the engine's predictions and logits, on real Fashion-MNIST images.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <opencv2/dnn.hpp>

#include "core/io/onnx_export.h"
#include "core/nn/loss.h"
#include "core/optim/optimizer.h"
#include "core/tensor/error.h"
#include "tests/io/io_test_util.h"

using namespace perceptra;
using namespace perceptra::iotest;

namespace {

constexpr int kImages = 32;

// tests/fixtures/io/fashion_batch.bin (make_fashion_batch.py): 32 test
// images of 28x28 uint8, then 32 labels.
std::vector<float> fashion_labels() {
  std::ifstream in(std::string(PERCEPTRA_FIXTURES_DIR) + "/io/fashion_batch.bin", std::ios::binary);
  std::string b(std::istreambuf_iterator<char>(in), {});
  std::vector<float> labels;
  for (int i = 0; i < kImages; ++i) labels.push_back(float(uint8_t(b[size_t(kImages * 784 + i)])));
  return labels;
}

Tensor fashion_batch() {
  std::ifstream in(std::string(PERCEPTRA_FIXTURES_DIR) + "/io/fashion_batch.bin", std::ios::binary);
  std::string b(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(b.size(), size_t(kImages * 784 + kImages));
  std::vector<float> v(size_t(kImages * 784));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(uint8_t(b[i])) / 255.f;
  return Tensor::from_vector(Shape{kImages, 1, 28, 28}, v);
}

ModelMeta fashion_meta() {
  ModelMeta m;
  m.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  m.mean = {0.2860f};
  m.std = {0.3530f};
  return m;
}

Tensor normalized(const Tensor& x, const ModelMeta& meta) {
  auto v = x.to_vector();
  const int64_t c = x.dim(1), plane = x.numel() / (x.dim(0) * c);
  for (size_t i = 0; i < v.size(); ++i) {
    size_t ch = (i / size_t(plane)) % size_t(c);
    v[i] = (v[i] - meta.mean[ch]) / meta.std[ch];
  }
  return Tensor::from_vector(x.shape(), v);
}

// Runs the serialised model in OpenCV DNN on raw input x; returns [N, K] values.
std::vector<float> run_opencv(const std::string& onnx_bytes, const Tensor& x) {
  std::vector<uchar> buf(onnx_bytes.begin(), onnx_bytes.end());
  cv::dnn::Net net = cv::dnn::readNetFromONNX(buf);
  std::vector<int> dims;
  for (auto d : x.shape().dims()) dims.push_back(int(d));
  auto host = x.to_vector();
  cv::Mat blob(int(dims.size()), dims.data(), CV_32F, host.data());
  net.setInput(blob);
  cv::Mat out = net.forward();
  EXPECT_EQ(out.total(), size_t(x.dim(0)) * size_t(out.total() / size_t(x.dim(0))));
  cv::Mat flat = out.reshape(1, 1);
  return std::vector<float>(flat.begin<float>(), flat.end<float>());
}

struct Parity {
  double max_abs = 0;
  int agree = 0, decisive = 0;
};

Parity compare_logits(const std::vector<float>& engine, const std::vector<float>& cv, int n, int k) {
  Parity p;
  for (int i = 0; i < n; ++i) {
    const float* e = &engine[size_t(i * k)];
    const float* c = &cv[size_t(i * k)];
    for (int j = 0; j < k; ++j) p.max_abs = std::max(p.max_abs, double(std::fabs(e[j] - c[j])));
    int ae = int(std::max_element(e, e + k) - e), ac = int(std::max_element(c, c + k) - c);
    std::vector<float> sorted(e, e + k);
    std::sort(sorted.rbegin(), sorted.rend());
    if (sorted[0] - sorted[1] > 1e-3f) {  // skip near-ties: argmax is not meaningful there
      ++p.decisive;
      p.agree += ae == ac;
    }
  }
  return p;
}

onnx::ModelProto parse(const std::string& bytes) {
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromString(bytes));
  return m;
}

std::string meta_prop(const onnx::ModelProto& m, const std::string& key) {
  for (const auto& p : m.metadata_props())
    if (p.key() == key) return p.value();
  return "";
}

// A spec touching every exportable layer type; `act` picks the first activation.
nlohmann::json every_layer_spec(const std::string& act) {
  return {
      {"name", "zoo"},
      {"input", {1, 28, 28}},
      {"classes", 10},
      {"layers",
       {{{"type", "conv2d"}, {"out_channels", 8}, {"kernel", 3}, {"padding", 1}},
        {{"type", "batchnorm2d"}},
        {{"type", act}},
        {{"type", "avgpool2d"}, {"kernel", 3}, {"stride", 2}, {"padding", 1}},
        {{"type", "residual"},
         {"layers",
          {{{"type", "conv2d"}, {"out_channels", 16}, {"kernel", 3}, {"stride", 2}, {"padding", 1}, {"bias", false}},
           {{"type", "batchnorm2d"}},
           {{"type", "tanh"}},
           {{"type", "conv2d"}, {"out_channels", 16}, {"kernel", 3}, {"padding", 1}}}},
         {"activation", "relu"}},
        {{"type", "residual"},
         {"layers", {{{"type", "conv2d"}, {"out_channels", 16}, {"kernel", 3}, {"padding", 1}}, {{"type", "sigmoid"}}}},
         {"activation", "none"}},
        {{"type", "maxpool2d"}, {"kernel", 2}},
        {{"type", "dropout"}, {"p", 0.25}},
        {{"type", "flatten"}},
        {{"type", "linear"}, {"out_features", 32}},
        {{"type", "batchnorm1d"}},
        {{"type", "leaky_relu"}, {"slope", 0.1}},
        {{"type", "linear"}, {"out_features", 10}}}}};
}

std::unique_ptr<Model> warmed(const nlohmann::json& spec, uint64_t seed) {
  Rng rng(seed);
  auto m = Model::from_spec(spec, rng);
  for (int i = 0; i < 3; ++i) m->forward(random_input(m->input_shape(), 8, seed + i), true);
  return m;
}

void expect_parity(Model& model, const ModelMeta& meta, const std::string& label) {
  SCOPED_TRACE(label);
  Tensor x = fashion_batch();
  auto engine = model.forward(normalized(x, meta), false).to_vector();
  std::string bytes = export_onnx_bytes(model, meta);
  auto cv = run_opencv(bytes, x);  // raw pixels: the graph normalises
  ASSERT_EQ(cv.size(), engine.size());
  double scale = 1;
  for (float v : engine) scale = std::max(scale, double(std::fabs(v)));
  Parity p = compare_logits(engine, cv, kImages, model.num_classes());
  std::printf("[ parity ] %-14s max |logit diff| %.2e (logit scale %.2f), argmax agree %d/%d\n", label.c_str(),
              p.max_abs, scale, p.agree, p.decisive);
  EXPECT_LE(p.max_abs, 1e-4 * scale);
  EXPECT_GE(p.decisive, kImages * 3 / 4);
  EXPECT_EQ(p.agree, p.decisive);
}

}  // namespace

TEST(OnnxExport, BuiltinsRunInOpenCvWithEngineLogits) {
  for (const auto& name : Model::builtin_names()) {
    auto model = trained_looking_model(name, Shape{1, 28, 28}, 10, 21);
    expect_parity(*model, fashion_meta(), name);
  }
}

TEST(OnnxExport, EveryLayerTypeOpenCvRuns) {
  for (const char* act : {"relu", "leaky_relu", "sigmoid", "tanh", "relu6"}) {
    auto model = warmed(every_layer_spec(act), 5);
    expect_parity(*model, fashion_meta(), std::string("zoo/") + act);
  }
}

TEST(OnnxExport, GraphStructureAndMetadata) {
  auto model = trained_looking_model("resnet-small", Shape{1, 28, 28}, 10, 4);
  auto m = parse(export_onnx_bytes(*model, fashion_meta()));
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  const auto& g = m.graph();
  ASSERT_EQ(g.input_size(), 1);
  ASSERT_EQ(g.output_size(), 1);
  EXPECT_EQ(g.input(0).name(), "input");
  EXPECT_EQ(g.output(0).name(), "logits");
  EXPECT_EQ(g.input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  EXPECT_EQ(g.node(0).op_type(), "Sub");  // normalisation first
  EXPECT_EQ(g.node(1).op_type(), "Div");
  int bn = 0, add = 0, conv = 0, dropout = 0;
  for (const auto& n : g.node()) {
    bn += n.op_type() == "BatchNormalization";
    add += n.op_type() == "Add";
    conv += n.op_type() == "Conv";
    dropout += n.op_type() == "Dropout";
  }
  EXPECT_EQ(add, 6);    // one per residual block
  EXPECT_EQ(conv, 15);  // stem + 2 per block + 2 projections
  EXPECT_EQ(bn, 15);
  EXPECT_EQ(dropout, 0);
  // Every parameter and buffer is an initializer.
  EXPECT_EQ(size_t(g.initializer_size()), model->parameters().size() + 2);  // + mean, std
  EXPECT_NE(meta_prop(m, "perceptra.input").find("raw pixels in [0,1]"), std::string::npos);
  auto norm = nlohmann::json::parse(meta_prop(m, "perceptra.normalization"));
  EXPECT_EQ(norm["included_in_graph"], true);
  EXPECT_EQ(nlohmann::json::parse(meta_prop(m, "perceptra.class_names"))[9], "Ankle boot");
  EXPECT_EQ(nlohmann::json::parse(meta_prop(m, "perceptra.spec"))["name"], "resnet-small");
}

TEST(OnnxExport, WithoutNormalisationTheInputIsFedAsIs) {
  auto model = trained_looking_model("simplecnn", Shape{1, 28, 28}, 10, 8);
  OnnxExportOptions o;
  o.include_normalization = false;
  std::string bytes = export_onnx_bytes(*model, fashion_meta(), o);
  auto m = parse(bytes);
  EXPECT_EQ(m.graph().node(0).op_type(), "Conv");
  EXPECT_EQ(nlohmann::json::parse(meta_prop(m, "perceptra.normalization"))["included_in_graph"], false);
  Tensor x = normalized(fashion_batch(), fashion_meta());
  auto engine = model->forward(x, false).to_vector();
  auto cv = run_opencv(bytes, x);
  EXPECT_LE(compare_logits(engine, cv, kImages, 10).max_abs, 1e-4);
}

TEST(OnnxExport, SoftmaxOutputGivesProbabilities) {
  auto model = trained_looking_model("lenet5", Shape{1, 28, 28}, 10, 9);
  OnnxExportOptions o;
  o.softmax = true;
  std::string bytes = export_onnx_bytes(*model, fashion_meta(), o);
  EXPECT_EQ(parse(bytes).graph().output(0).name(), "probabilities");
  Tensor x = fashion_batch();
  auto logits = model->forward(normalized(x, fashion_meta()), false).to_vector();
  auto probs = run_opencv(bytes, x);
  ASSERT_EQ(probs.size(), logits.size());
  for (int i = 0; i < kImages; ++i) {
    const float* l = &logits[size_t(i * 10)];
    float mx = *std::max_element(l, l + 10);
    double z = 0, sum = 0;
    for (int j = 0; j < 10; ++j) z += std::exp(double(l[j] - mx));
    for (int j = 0; j < 10; ++j) {
      double p = std::exp(double(l[j] - mx)) / z;
      EXPECT_NEAR(probs[size_t(i * 10 + j)], p, 1e-5);
      sum += probs[size_t(i * 10 + j)];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(OnnxExport, GeluIsAnErfCompositionThatOpenCvRuns) {
  // GELU exports as x * 0.5 * (1 + Erf(x / sqrt 2)) (ONNX has Gelu only from
  // opset 20); OpenCV 4.6 runs Erf, so it is held to the same parity.
  auto model = warmed(every_layer_spec("gelu"), 6);
  const onnx::ModelProto proto = parse(export_onnx_bytes(*model, fashion_meta()));
  int erf = 0;
  for (const auto& n : proto.graph().node()) erf += n.op_type() == "Erf";
  EXPECT_EQ(erf, 1);
  expect_parity(*model, fashion_meta(), "zoo/gelu");
}

TEST(OnnxExport, WritesAtomicallyAndRefusesBadOptions) {
  TempDir t;
  auto model = trained_looking_model("mlp", Shape{1, 28, 28}, 10, 2);
  std::string path = t.file("m.onnx");
  export_onnx(path, *model, fashion_meta());
  EXPECT_EQ(read_bytes(path), export_onnx_bytes(*model, fashion_meta()));
  EXPECT_EQ(t.entries(), 1u);
  OnnxExportOptions o;
  o.opset = 9;
  EXPECT_THROW(export_onnx(t.file("old.onnx"), *model, fashion_meta(), o), InputError);
  EXPECT_FALSE(std::filesystem::exists(t.file("old.onnx")));
  EXPECT_THROW(export_onnx(t.file("no/dir/m.onnx"), *model, fashion_meta()), InputError);
  o.opset = 17;
  auto m = parse(export_onnx_bytes(*model, fashion_meta(), o));
  EXPECT_EQ(m.opset_import(0).version(), 17);
}

TEST(OnnxExport, TrainedSimpleCnnGivesTheSamePredictionsInOpenCv) {
  // Weights that mean something: SimpleCNN fitted to the 32 fixture images.
  Rng rng(11);
  auto model = Model::from_spec(Model::builtin_spec("simplecnn", Shape{1, 28, 28}, 10), rng);
  OptimizerConfig c;
  c.lr = 0.05f;
  auto opt = make_optimizer(c, model->parameters());
  const ModelMeta meta = fashion_meta();
  Tensor raw = fashion_batch();
  Tensor x = normalized(raw, meta);
  Tensor y = Tensor::from_vector(Shape{kImages}, fashion_labels());
  SoftmaxCrossEntropy loss;
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    last = loss.forward(model->forward(x, true), y);
    if (step == 0) first = last;
    model->backward(loss.backward());
    opt->step();
  }
  EXPECT_LT(last, first * 0.5);
  auto engine = model->forward(x, false).to_vector();
  auto cv = run_opencv(export_onnx_bytes(*model, meta), raw);
  int correct = 0;
  auto labels = fashion_labels();
  double max_abs = 0, scale = 1;
  for (int i = 0; i < kImages; ++i) {
    const float* e = &engine[size_t(i * 10)];
    const float* o = &cv[size_t(i * 10)];
    int pe = int(std::max_element(e, e + 10) - e), po = int(std::max_element(o, o + 10) - o);
    EXPECT_EQ(pe, po) << "image " << i;
    correct += pe == int(labels[size_t(i)]);
    for (int j = 0; j < 10; ++j) {
      max_abs = std::max(max_abs, double(std::fabs(e[j] - o[j])));
      scale = std::max(scale, double(std::fabs(e[j])));
    }
  }
  std::printf("[ parity ] trained simplecnn: fits %d/32, max |logit diff| %.2e (scale %.1f)\n", correct, max_abs,
              scale);
  EXPECT_GE(correct, 28);
  EXPECT_LE(max_abs, 1e-4 * scale);
}

TEST(OnnxExport, PythonOnnxCheckerAndOpenCvAgree) {
  // Independent tool chain: Debian's python3-onnx full check + python3-opencv.
  const std::string py = "/usr/bin/python3";
  if (std::system((py + " -c 'import onnx, cv2' 2>/dev/null").c_str()) != 0)
    GTEST_SKIP() << "python3-onnx or python3-opencv not installed for /usr/bin/python3";
  TempDir t;
  auto model = trained_looking_model("resnet-small", Shape{1, 28, 28}, 10, 31);
  std::string path = t.file("resnet.onnx"), out = t.file("check.json");
  export_onnx(path, *model, fashion_meta());
  std::string fixtures = PERCEPTRA_FIXTURES_DIR;
  std::string cmd =
      py + " " + fixtures + "/io/check_onnx.py " + path + " " + fixtures + "/io/fashion_batch.bin > " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto j = nlohmann::json::parse(read_bytes(out));
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["opset"], 13);
  EXPECT_EQ(j["normalization_in_graph"], true);
  auto engine = model->forward(normalized(fashion_batch(), fashion_meta()), false).to_vector();
  ASSERT_EQ(j["logits"].size(), size_t(kImages));
  for (int i = 0; i < kImages; ++i)
    for (int k = 0; k < 10; ++k)
      EXPECT_NEAR(j["logits"][size_t(i)][size_t(k)].get<double>(), engine[size_t(i * 10 + k)], 1e-4);
}
