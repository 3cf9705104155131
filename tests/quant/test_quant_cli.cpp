// perceptra-cli quantize / eval / predict / export on an int8 model, with the
// bundled sample data (28x28 grayscale shapes, 6 classes), and its errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/data/resolve.h"
#include "core/io/model_file.h"
#include "core/quant/quantized_file.h"
#include "core/tensor/random.h"

using namespace perceptra;

namespace {

struct CliRun {
  int code = -1;
  std::string out, err;
};

std::string dir() {
  auto d = std::filesystem::temp_directory_path() / ("perceptra_qcli_" + std::to_string(getpid()));
  std::filesystem::create_directories(d);
  return d.string();
}

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

CliRun cli(const std::string& args) {
  const std::string o = dir() + "/out.txt", e = dir() + "/err.txt";
  const std::string cmd =
      std::string("OMP_NUM_THREADS=2 '") + PERCEPTRA_CLI + "' " + args + " >'" + o + "' 2>'" + e + "'";
  CliRun r;
  const int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(o);
  r.err = slurp(e);
  return r;
}

// A seeded (untrained) SimpleCNN for the sample data, as a float model file.
std::string float_model() {
  const std::string path = dir() + "/float.pmodel";
  DataSource src = open_dataset("sample");
  Rng rng(3);
  auto m =
      Model::from_spec(Model::builtin_spec("simplecnn", src.train->sample_shape(), int(src.class_names.size())), rng);
  ModelMeta meta;
  meta.class_names = src.class_names;
  meta.mean = {0.5f};
  meta.std = {0.25f};
  save_model(path, *m, meta);
  return path;
}

}  // namespace

TEST(QuantCli, QuantizeThenEvalPredictAndExportTheInt8Model) {
  const std::string f = float_model(), q = dir() + "/int8.pmodel";
  CliRun r = cli("quantize --model '" + f + "' --data sample --calibration 64 --eval-images 96 --out '" + q +
                 "' --method entropy");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* s : {"accuracy on 96 images", "per class", "changed prediction", "per-layer sensitivity", "conv0",
                        "images/s", "model size", "entropy"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  auto rep = quant::quantization_report(q);
  EXPECT_EQ(rep["eval_images"], 96);
  EXPECT_EQ(rep["int8_file_bytes"].get<uint64_t>(), std::filesystem::file_size(q));
  EXPECT_LE(double(std::filesystem::file_size(q)), 0.3 * double(std::filesystem::file_size(f)));

  CliRun e = cli("eval --model '" + q + "' --data sample --json");
  ASSERT_EQ(e.code, 0) << e.err;
  auto j = nlohmann::json::parse(e.out);
  // The CLI's int8 accuracy on the whole sample set is what the int8 plan gives.
  LoadedModel lm = quant::load_any_model(q);
  ASSERT_NE(lm.model->inference_override(), nullptr);
  EXPECT_GT(j["samples"].get<int64_t>(), 96);

  const std::string img = std::string(PERCEPTRA_SOURCE_DIR) + "/sample-data/shapes/circle";
  std::string first;
  for (auto& p : std::filesystem::directory_iterator(img)) {
    first = p.path().string();
    break;
  }
  CliRun p = cli("predict --model '" + q + "' '" + first + "'");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find(first), std::string::npos);

  CliRun x = cli("export --model '" + q + "' --format onnx --out '" + dir() + "/int8.onnx'");
  ASSERT_EQ(x.code, 0) << x.err;
  const std::string onnx = slurp(dir() + "/int8.onnx");
  EXPECT_NE(onnx.find("QuantizeLinear"), std::string::npos);
  CliRun n = cli("export --model '" + q + "' --format native --out '" + dir() + "/copy.pmodel'");
  ASSERT_EQ(n.code, 0) << n.err;
  EXPECT_EQ(quant::quantization_report(dir() + "/copy.pmodel")["eval_images"], 96);
}

TEST(QuantCli, BadInputIsAClearError) {
  const std::string f = float_model(), q = dir() + "/bad.pmodel";
  CliRun r = cli("quantize --model '" + f + "' --data sample --calibration 0 --out '" + q + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("calibration data"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(q));
  r = cli("quantize --model '" + f + "' --data sample --method kl --out '" + q + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--method"), std::string::npos) << r.err;
  r = cli("quantize --model '" + f + "' --data sample --float-layers conv0,nope --out '" + q + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  // Data that does not fit the model (10 classes for a 6-class model); a
  // calibration set of the wrong image shape: QuantInput in test_quant_model.
  r = cli("quantize --model '" + f + "' --data fashion-mnist --out '" + q + "'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("10 classes"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(q));
}
