// int8 models end to end: the CPU int8 plan against its float simulation
// (what CUDA runs) and against the float model, fallback layers staying
// float, the int8 model file (int8 weights, not float copies; round trip;
// corrupt files refused naming the field) and bad calibration input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include <unistd.h>

#include "core/io/tensor_file.h"
#include "core/quant/post_training.h"
#include "core/quant/quantized_file.h"
#include "core/tensor/error.h"
#include "tests/quant/quant_test_util.h"

using namespace perceptra;
using namespace perceptra::quant;
using namespace perceptra::quanttest;

namespace {

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("perceptra_quant_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::vector<int> argmax_rows(const Tensor& logits) {
  auto v = logits.to_vector();
  const int64_t C = logits.dim(1);
  std::vector<int> p;
  for (int64_t i = 0; i < logits.dim(0); ++i)
    p.push_back(int(std::max_element(v.begin() + i * C, v.begin() + (i + 1) * C) - (v.begin() + i * C)));
  return p;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

// Labels = the float model's own predictions, so float accuracy is 1 and a
// layer's sensitivity is the share of predictions quantising it changes.
LabeledImages self_labelled(Model& m, const Tensor& x) {
  LabeledImages e;
  e.images = x;
  e.labels = argmax_rows(m.infer(x));
  return e;
}

class QuantModel : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(QuantModel, Int8MatchesItsFloatSimulationAndStaysCloseToFloat) {
  auto model = make_model(GetParam());
  Tensor x = fashion_images();
  Tensor float_logits = model->infer(x);
  PtqOptions o;
  o.method = CalibrationMethod::MinMax;
  PtqResult r = quantize_post_training(*model, x, nullptr, o);
  QuantizedModel& qm = *r.qmodel;
  EXPECT_EQ(qm.quantized_count(), qm.quantizable_count());
  Tensor q = qm.infer_int8(x), sim = qm.infer_simulated(x);
  auto qv = q.to_vector(), sv = sim.to_vector(), fv = float_logits.to_vector();
  ASSERT_EQ(qv.size(), fv.size());
  // int8 vs its float simulation: the same int8 levels, only the float
  // rounding order differs (a value on a rounding edge moves one level).
  double d_sim = 0, d_float = 0;
  for (size_t i = 0; i < qv.size(); ++i) {
    d_sim = std::max(d_sim, double(std::fabs(qv[i] - sv[i])));
    d_float = std::max(d_float, double(std::fabs(qv[i] - fv[i])));
  }
  const double range = max_abs(fv);
  EXPECT_LT(d_sim, 0.02 * range) << "int8 vs simulation";
  EXPECT_LT(d_float, 0.15 * range) << "int8 vs float";
  EXPECT_GT(d_float, 0.0) << "int8 inference must not be the float path";
  auto pq = argmax_rows(q), ps = argmax_rows(sim), pf = argmax_rows(float_logits);
  int agree_sim = 0, agree_float = 0;
  for (size_t i = 0; i < pq.size(); ++i) {
    agree_sim += pq[i] == ps[i];
    agree_float += pq[i] == pf[i];
  }
  EXPECT_GE(agree_sim, kImages - 1);
  EXPECT_GE(agree_float, kImages - 3);
  // Model::infer runs the int8 plan once it is the override.
  model->set_inference_override(r.qmodel);
  EXPECT_EQ(model->infer(x).to_vector(), qv);
}

INSTANTIATE_TEST_SUITE_P(Builtins, QuantModel, ::testing::Values("simplecnn", "resnet-small", "lenet5", "mlp"));

TEST(QuantFallback, LayersAboveTheThresholdAndForcedOnesStayFloat) {
  auto model = make_model("simplecnn");
  Tensor x = fashion_images();
  LabeledImages eval = self_labelled(*model, x);
  PtqOptions o;
  o.method = CalibrationMethod::MinMax;
  o.fallback_drop = 0.0;  // any changed prediction keeps the layer float
  o.fallback_z = 0.0;     // (no noise margin: 32 images)
  o.float_layers = {"fc9"};
  PtqResult r = quantize_post_training(*model, x, &eval, o);
  const auto& sens = r.report["sensitivity"];
  ASSERT_EQ(sens.size(), 4u);  // conv0, conv3, fc7, fc9
  for (const auto& s : sens) {
    QuantNode* n = r.qmodel->find(s["layer"].get<std::string>());
    ASSERT_NE(n, nullptr);
    const bool want = s["layer"] != "fc9" && s["drop"].get<double>() <= 0.0;
    EXPECT_EQ(n->quantized, want) << s.dump();
    EXPECT_EQ(s["quantized"].get<bool>(), want);
  }
  EXPECT_EQ(r.report["float_accuracy"].get<double>(), 1.0);
  EXPECT_FALSE(r.qmodel->find("fc9")->quantized);
  // A float layer computes in float: the classifier's float output equals
  // the float model's fc9 applied to the int8 model's fc7 output; easiest
  // visible consequence: with every layer forced float, int8 == float.
  PtqOptions all = o;
  all.float_layers = {"conv0", "conv3", "fc7", "fc9"};
  PtqResult none = quantize_post_training(*model, x, &eval, all);
  EXPECT_EQ(none.qmodel->quantized_count(), 0);
  auto a = none.qmodel->infer_int8(x).to_vector(), b = model->infer(x).to_vector();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5f * (1 + std::fabs(b[i])));
  EXPECT_EQ(none.report["int8_accuracy"].get<double>(), 1.0);
  EXPECT_TRUE(none.report["flipped"].empty());

  o.float_layers = {"no_such_layer"};
  try {
    quantize_post_training(*model, x, &eval, o);
    FAIL() << "unknown float layer accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_layer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("conv0"), std::string::npos) << e.what();
  }
}

TEST(QuantReport, CountsFlipsPerClassAndSpeed) {
  auto model = make_model("lenet5");
  std::vector<int> labels;
  Tensor x = fashion_images(&labels);
  LabeledImages eval{x, labels};
  PtqOptions o;
  o.fallback_drop = -1;  // keep everything int8
  o.sensitivity_images = 16;
  PtqResult r = quantize_post_training(*model, x, &eval, o, fashion_meta().class_names);
  EXPECT_EQ(r.report["sensitivity_images"], 16);
  EXPECT_EQ(r.report["eval_images"], kImages);
  const auto& rep = r.report;
  auto q = argmax_rows(r.qmodel->infer_int8(x)), f = argmax_rows(model->infer(x));
  size_t flips = 0, fok = 0, qok = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    flips += q[i] != f[i];
    fok += f[i] == labels[i];
    qok += q[i] == labels[i];
  }
  EXPECT_EQ(rep["flipped"].size(), flips);
  EXPECT_DOUBLE_EQ(rep["float_accuracy"].get<double>(), double(fok) / kImages);
  EXPECT_DOUBLE_EQ(rep["int8_accuracy"].get<double>(), double(qok) / kImages);
  ASSERT_EQ(rep["per_class"].size(), 10u);
  EXPECT_EQ(rep["per_class"][0]["class"], "T-shirt/top");
  int64_t images = 0;
  for (const auto& c : rep["per_class"]) images += c["images"].get<int64_t>();
  EXPECT_EQ(images, kImages);
  EXPECT_GT(rep["int8_images_per_s"].get<double>(), 0);
  EXPECT_GT(rep["float_images_per_s"].get<double>(), 0);
  const std::string text = format_report(rep);
  EXPECT_NE(text.find("per-layer sensitivity"), std::string::npos);
  EXPECT_NE(text.find("T-shirt/top"), std::string::npos);
}

TEST(QuantInput, MissingOrMisshapenCalibrationDataIsAClearError) {
  auto model = make_model("simplecnn");
  PtqOptions o;
  try {
    quantize_post_training(*model, Tensor(), nullptr, o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("calibration data"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("no images"), std::string::npos) << e.what();
  }
  try {
    quantize_post_training(*model, Tensor::zeros(Shape{4, 3, 32, 32}), nullptr, o);
    FAIL();
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("calibration data"), std::string::npos) << m;
    EXPECT_NE(m.find("[3, 32, 32]"), std::string::npos) << m;
    EXPECT_NE(m.find("[1, 28, 28]"), std::string::npos) << m;
  }
}

TEST(QuantFile, StoresInt8WeightsRoundTripsAndIsSmall) {
  auto model = make_model("resnet-small");
  Tensor x = fashion_images();
  PtqOptions o;
  PtqResult r = quantize_post_training(*model, x, nullptr, o);
  // Keep one layer float to check both kinds of storage.
  QuantNode* kept = r.qmodel->quantizable().back();
  kept->quantized = false;
  r.qmodel->finalize();
  const std::string f = temp_path("resnet_float.pmodel"), q = temp_path("resnet_int8.pmodel");
  save_model(f, *model, fashion_meta());
  save_quantized_model(q, *r.qmodel, fashion_meta(), {{"note", "test"}});
  const auto fs = std::filesystem::file_size(f), qs = std::filesystem::file_size(q);
  EXPECT_LE(double(qs), 0.3 * double(fs)) << qs << " vs " << fs;

  auto c = tensor_file::read(q);
  int int8_tensors = 0;
  for (const auto& t : c.tensors) {
    if (t.is_int8) {
      ++int8_tensors;
      EXPECT_EQ(t.section, "int8");
    }
    // No quantised layer has a float copy of its weights.
    for (QuantNode* n : r.qmodel->quantizable())
      if (n->quantized) {
        EXPECT_NE(t.section + "/" + t.name, "weights/" + n->name + ".weight");
      }
  }
  EXPECT_EQ(int8_tensors, r.qmodel->quantized_count());
  bool kept_float = false;
  for (const auto& t : c.tensors) kept_float |= t.section == "weights" && t.name == kept->name + ".weight";
  EXPECT_TRUE(kept_float);

  LoadedModel lm = load_any_model(q);
  ASSERT_NE(lm.model->inference_override(), nullptr);
  EXPECT_EQ(lm.model->infer(x).to_vector(), r.qmodel->infer_int8(x).to_vector());
  EXPECT_EQ(quantization_report(q)["note"], "test");
  EXPECT_EQ(lm.meta.class_names, fashion_meta().class_names);
  // forward() runs the dequantised float layers: close to the int8 logits.
  auto fw = lm.model->forward(x, false).to_vector(), iv = lm.model->infer(x).to_vector();
  double d = 0;
  for (size_t i = 0; i < fw.size(); ++i) d = std::max(d, double(std::fabs(fw[i] - iv[i])));
  EXPECT_LT(d, 0.1 * max_abs(iv));
  // A float file still loads through load_any_model, without an override.
  EXPECT_EQ(load_any_model(f).model->inference_override(), nullptr);
  // The float loader refuses int8 files with a pointer to the right one.
  try {
    load_model(q);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("int8"), std::string::npos) << e.what();
  }
}

namespace {

// Rewrites an int8 file (valid checksum) after `edit` changed its contents.
void rewrite(const std::string& src, const std::string& dst, const std::function<void(tensor_file::Contents&)>& edit) {
  auto c = tensor_file::read(src);
  edit(c);
  std::vector<tensor_file::TensorRef> refs;
  for (const auto& t : c.tensors) {
    if (t.is_int8)
      refs.push_back(tensor_file::TensorRef::int8(t.name, t.section, t.shape, t.int8_values));
    else
      refs.push_back({t.name, t.section, Tensor::from_vector(t.shape, t.values)});
  }
  nlohmann::json h = c.header;
  h.erase("tensors");
  tensor_file::write(dst, c.kind, h, refs);
}

void expect_load_error(const std::string& path, const std::vector<std::string>& parts) {
  try {
    load_any_model(path);
    FAIL() << "loaded a corrupt int8 model";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << m;
  }
}

}  // namespace

TEST(QuantFile, CorruptInt8ModelsAreRefusedNamingTheField) {
  auto model = make_model("simplecnn");
  Tensor x = fashion_images();
  PtqResult r = quantize_post_training(*model, x, nullptr, PtqOptions{});
  const std::string good = temp_path("good.pmodel"), bad = temp_path("bad.pmodel");
  save_quantized_model(good, *r.qmodel, fashion_meta(), {});

  {  // a flipped byte inside the int8 weights: the checksum catches it
    std::string bytes;
    {
      std::ifstream in(good, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    bytes[bytes.size() - 100] ^= 0x5a;
    std::ofstream(bad, std::ios::binary) << bytes;
    expect_load_error(bad, {"checksum"});
  }
  rewrite(good, bad, [](tensor_file::Contents& c) {
    for (auto& t : c.tensors)
      if (t.name == "conv3.weight_scale") t.values[2] = -1.f;
  });
  expect_load_error(bad, {"conv3.weight_scale", "positive"});
  rewrite(good, bad, [](tensor_file::Contents& c) {
    for (auto& t : c.tensors)
      if (t.name == "conv0.weight") t.int8_values[0] = 100;
  });
  expect_load_error(bad, {"conv0.weight", "100", "[-63, 63]"});
  rewrite(good, bad, [](tensor_file::Contents& c) {
    std::vector<tensor_file::StoredTensor> kept;
    for (auto& t : c.tensors)
      if (t.name != "fc7.weight") kept.push_back(t);
    c.tensors = kept;
  });
  expect_load_error(bad, {"fc7.weight", "missing"});
  rewrite(good, bad, [](tensor_file::Contents& c) {
    for (auto& t : c.tensors)
      if (t.name == "fc9.weight") {
        t.shape = Shape{5, 256};
        t.int8_values.resize(5 * 256);
      }
  });
  expect_load_error(bad, {"fc9.weight", "[10, 128]"});
  rewrite(good, bad, [](tensor_file::Contents& c) { c.header["quantization"]["nodes"][1]["in_threshold"] = "big"; });
  expect_load_error(bad, {"conv3", "in_threshold"});
  rewrite(good, bad, [](tensor_file::Contents& c) { c.header["quantization"]["nodes"].erase(0); });
  expect_load_error(bad, {"quantization.nodes", "conv0"});
  rewrite(good, bad, [](tensor_file::Contents& c) { c.header["quantization"]["format"] = 7; });
  expect_load_error(bad, {"quantization format 7"});
  rewrite(good, bad, [](tensor_file::Contents& c) {
    for (auto& t : c.tensors)
      if (t.name == "conv0.bias" && t.section == "quant") t.values[0] = std::nanf("");
  });
  expect_load_error(bad, {"conv0.bias", "non-finite"});
}
