// Import of torchvision networks through ONNX, .pth (zip + restricted pickle)
// and .safetensors: the engine's logits equal PyTorch's on the same 224x224
// images, the imported model exported back to ONNX runs in OpenCV DNN with the
// same predictions, and bad or hostile files are refused with errors naming
// the file and the problem. The torchvision files are generated at test time
// by tests/fixtures/make_import_fixtures.py (random weights, nothing downloads).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <opencv2/dnn.hpp>

#include "core/io/import/importer.h"
#include "core/io/import/pickle_vm.h"
#include "core/io/import/state_dict.h"
#include "core/io/onnx_export.h"
#include "core/tensor/error.h"
#include "tests/io/hostile_imports.h"
#include "tests/io/io_test_util.h"

using namespace perceptra;
using namespace perceptra::iotest;
using namespace std::string_literals;

namespace {

constexpr int kImages = 3, kClasses = 1000;

class Import : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const std::string cmd = "/usr/bin/python3 " + std::string(PERCEPTRA_FIXTURES_DIR) + "/make_import_fixtures.py " +
                            dir_->path.string() + " > " + dir_->file("python.log") + " 2>&1";
    python_ok_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(python_ok_) << "make_import_fixtures.py failed (python3-torch and "
                               "python3-torchvision come with scripts/setup):\n"
                            << read_bytes(dir_->file("python.log"));
  }
  static std::string file(const std::string& name) { return dir_->file(name); }
  static std::vector<float> floats(const std::string& name) {
    std::string b = read_bytes(file(name));
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
  }
  static Tensor images() { return Tensor::from_vector(Shape{kImages, 3, 224, 224}, floats("images.bin")); }
  static inline TempDir* dir_ = nullptr;
  static inline bool python_ok_ = false;
};

struct Diff {
  double max_abs = 0, max_rel = 0, scale = 0;
};
// rel: |ours - torch| / max |torch logit| of that image.
Diff diff(const std::vector<float>& ours, const std::vector<float>& torch, int n, int k) {
  Diff d;
  for (int i = 0; i < n; ++i) {
    double scale = 0, worst = 0;
    for (int j = 0; j < k; ++j) {
      scale = std::max(scale, double(std::fabs(torch[size_t(i * k + j)])));
      worst = std::max(worst, double(std::fabs(ours[size_t(i * k + j)] - torch[size_t(i * k + j)])));
    }
    d.max_abs = std::max(d.max_abs, worst);
    d.max_rel = std::max(d.max_rel, worst / scale);
    d.scale = std::max(d.scale, scale);
  }
  return d;
}

std::vector<int> argmax_rows(const std::vector<float>& v, int n, int k) {
  std::vector<int> a;
  for (int i = 0; i < n; ++i)
    a.push_back(int(std::max_element(v.begin() + i * k, v.begin() + (i + 1) * k) - (v.begin() + i * k)));
  return a;
}

std::vector<float> run_opencv(const std::string& onnx_bytes, const Tensor& x) {
  std::vector<uchar> buf(onnx_bytes.begin(), onnx_bytes.end());
  cv::dnn::Net net = cv::dnn::readNetFromONNX(buf);
  std::vector<int> dims;
  for (auto d : x.shape().dims()) dims.push_back(int(d));
  auto host = x.to_vector();
  cv::Mat blob(int(dims.size()), dims.data(), CV_32F, host.data());
  net.setInput(blob);
  cv::Mat out = net.forward().reshape(1, 1);
  return std::vector<float>(out.begin<float>(), out.end<float>());
}

void expect_error(const std::string& path, const ImportOptions& o, const std::string& words) {
  try {
    import_model(path, o);
    ADD_FAILURE() << path << ": imported without error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(words), std::string::npos) << msg;
    std::printf("[ error  ] %s\n", msg.c_str());
  }
}

}  // namespace

TEST_F(Import, TorchvisionLogitsThroughEveryRouteAndBackToOnnx) {
  const Tensor x = images();
  for (const std::string arch : {"resnet18", "mobilenet_v2"}) {
    const auto torch_logits = floats(arch + ".logits");
    ASSERT_EQ(torch_logits.size(), size_t(kImages * kClasses));
    for (const std::string ext : {".onnx", ".pth", ".safetensors"}) {
      SCOPED_TRACE(arch + ext);
      ImportOptions o;
      if (ext != ".onnx") o.arch = arch;
      ImportedModel m = import_model(file(arch + ext), o);
      EXPECT_EQ(m.model->input_shape(), Shape({3, 224, 224}));
      EXPECT_EQ(m.model->num_classes(), kClasses);
      EXPECT_EQ(m.meta.mean, imagenet_mean());
      // Both forward paths: training-style eval forward and fused inference.
      auto ours = m.model->forward(x, false).to_vector();
      auto fused = m.model->infer(x).to_vector();
      Diff d = diff(ours, torch_logits, kImages, kClasses);
      Diff df = diff(fused, torch_logits, kImages, kClasses);
      std::printf(
          "[ parity ] %-26s %lld params  max |diff| %.2e  rel %.2e  (fused: %.2e, rel %.2e; "
          "logit scale %.2f)\n",
          (arch + ext).c_str(), static_cast<long long>(m.model->parameter_count()), d.max_abs, d.max_rel, df.max_abs,
          df.max_rel, d.scale);
      EXPECT_LE(d.max_rel, 1e-4);
      EXPECT_LE(df.max_rel, 1e-4);
      EXPECT_EQ(argmax_rows(ours, kImages, kClasses), argmax_rows(torch_logits, kImages, kClasses));
      if (ext != ".pth") continue;  // one export-back per architecture is enough
      OnnxExportOptions eo;
      eo.include_normalization = false;  // x is already normalised
      auto cv = run_opencv(export_onnx_bytes(*m.model, m.meta, eo), x);
      ASSERT_EQ(cv.size(), ours.size());
      Diff dc = diff(cv, ours, kImages, kClasses);
      std::printf("[ opencv ] %-26s max |diff| %.2e  rel %.2e\n", (arch + ext).c_str(), dc.max_abs, dc.max_rel);
      EXPECT_LE(dc.max_rel, 1e-4);
      EXPECT_EQ(argmax_rows(cv, kImages, kClasses), argmax_rows(ours, kImages, kClasses));
      // Our own export (normalisation in the graph, ReLU6 as 6 * HardSigmoid)
      // imports back to the same network and metadata.
      const std::string again = file(arch + ".roundtrip.onnx");
      export_onnx(again, *m.model, m.meta);
      ImportedModel back = import_model(again, {});
      EXPECT_EQ(back.meta.mean, m.meta.mean);
      EXPECT_EQ(back.meta.std, m.meta.std);
      EXPECT_EQ(back.model->parameter_count(), m.model->parameter_count());
      Diff db = diff(back.model->forward(x, false).to_vector(), ours, kImages, kClasses);
      std::printf("[ again  ] %-26s max |diff| %.2e  rel %.2e\n", again.c_str(), db.max_abs, db.max_rel);
      EXPECT_LE(db.max_rel, 1e-5);
    }
  }
}

TEST_F(Import, StateDictsNeedTheRightArchitecture) {
  ImportOptions o;
  expect_error(file("resnet18.pth"), o, "--arch");
  o.arch = "vgg16";
  expect_error(file("resnet18.pth"), o, "vgg16");
  o.arch = "resnet34";  // same names, more blocks: layer2 comes too early
  expect_error(file("resnet18.pth"), o, "tensor 'layer2.0.conv1.weight'");
  o.arch = "resnet18";  // mobilenet's names and shapes
  expect_error(file("mobilenet_v2.safetensors"), o, "features.0.0.weight");
  o.classes = 10;  // the file has 1000
  expect_error(file("resnet18.safetensors"), o, "1000 classes but 10");
}

TEST_F(Import, BadFilesNameTheFileAndTheProblem) {
  ImportOptions o;
  o.arch = "resnet18";
  expect_error(file("bad_global.pth"), o, "posix.system");
  expect_error(file("bad_expand.pth"), o, "views 16777216 elements of a storage of 1");
  expect_error(file("bad_op.onnx"), ImportOptions{}, "Elu");
  // Truncated copies of every format.
  for (const std::string ext : {".pth", ".safetensors", ".onnx"}) {
    std::string bytes = read_bytes(file("resnet18" + ext));
    const std::string cut = file("truncated" + ext);
    write_bytes(cut, bytes.substr(0, bytes.size() / 2));
    expect_error(cut, o, ext == ".onnx" ? "not a valid ONNX" : "truncated");
  }
}

TEST_F(Import, CliWritesTheModelOnlyWhenEverythingMaps) {
  const std::string out = file("imported.pmodel"), names = file("names.txt");
  std::string list;
  for (int i = 0; i < kClasses; ++i) list += "class" + std::to_string(i) + "\n";
  write_bytes(names, list);
  const std::string cli = PERCEPTRA_CLI;
  auto run = [&](const std::string& args) {
    return std::system((cli + " import " + args + " > " + file("cli.log") + " 2>&1").c_str());
  };
  EXPECT_NE(run(file("bad_op.onnx") + " --out " + out), 0);
  EXPECT_FALSE(std::filesystem::exists(out)) << "a failed import must write nothing";
  EXPECT_NE(read_bytes(file("cli.log")).find("Elu"), std::string::npos);
  EXPECT_NE(run(file("resnet18.pth") + " --arch resnet34 --out " + out), 0);
  EXPECT_FALSE(std::filesystem::exists(out));
  ASSERT_EQ(run(file("mobilenet_v2.safetensors") +
                " --arch mobilenet_v2 --input 3,160,160"
                " --mean 0.5,0.5,0.5 --std 0.25,0.25,0.25 --classes " +
                names + " --out " + out),
            0)
      << read_bytes(file("cli.log"));
  LoadedModel lm = load_model(out);
  EXPECT_EQ(lm.model->input_shape(), Shape({3, 160, 160}));  // global pooling: any size
  EXPECT_EQ(lm.meta.class_names.size(), size_t(kClasses));
  EXPECT_EQ(lm.meta.class_names[7], "class7");
  EXPECT_EQ(lm.meta.mean, std::vector<float>({0.5f, 0.5f, 0.5f}));
  EXPECT_EQ(lm.meta.std, std::vector<float>({0.25f, 0.25f, 0.25f}));
}

// ---- hostile bytes, no Python needed ---------------------------------------

namespace {

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

void expect_pickle_error(const std::string& bytes, const std::string& words) {
  try {
    import::unpickle_torch(bytes, "test.pkl");
    ADD_FAILURE() << "unpickled without error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(ImportHostile, PickleRefusesAnythingButStateDicts) {
  expect_pickle_error(
      "\x80\x02"
      "cbuiltins\neval\n.",
      "builtins.eval");
  expect_pickle_error(
      "\x80\x02"
      "ctorch\nload\n.",
      "torch.load");
  expect_pickle_error("\x80\x04\x8c\x02os\x8c\x06system\x93.", "os.system");  // STACK_GLOBAL
  expect_pickle_error("\x80\x02i", "opcode 0x69");                            // INST
  expect_pickle_error(
      "\x80\x02X\xff\xff\xff\x7f"
      "abc",
      "truncated");  // huge string
  expect_pickle_error("\x80\x02h\x05.", "memo entry 5");
  expect_pickle_error("\x80\x02t.", "no MARK");
  expect_pickle_error("\x80\x02", "truncated");
  // Deep nesting: 100 one-element tuples inside each other.
  std::string deep = "\x80\x02N";
  for (int i = 0; i < 100; ++i) deep += "\x85";
  expect_pickle_error(deep + ".", "deeper than");
  // Growing a dict after it was nested (how a pickle would build cycles or
  // depth the check did not see).
  expect_pickle_error(
      "\x80\x02}q\x00)h\x00\x85"
      "0h\x00K\x01K\x02s."s,
      "after nesting");
  // A list appended to itself (DUP, APPEND): a reference cycle that leaked
  // every time (found by fuzz_torch_pickle; LeakSanitizer).
  expect_pickle_error("\x80\x02]2a.", "inside itself");
  expect_pickle_error("\x80\x02}22s.", "inside itself");
  // A plain state-dict-like pickle is fine.
  auto v = import::unpickle_torch(
      "\x80\x02}q\x00(X\x01\x00\x00\x00"
      "aK\x01u."s,
      "ok.pkl");
  EXPECT_EQ(v->kind, import::PyValue::Kind::Dict);
  EXPECT_EQ(v->dict.size(), 1u);
}

TEST(ImportHostile, SafetensorsChecksEveryOffset) {
  TempDir t;
  auto check = [&](const std::string& bytes, const std::string& words) {
    const std::string path = t.file("x.safetensors");
    write_bytes(path, bytes);
    try {
      import::read_safetensors(path);
      ADD_FAILURE() << "read without error: " << words;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  auto file_with = [](const std::string& header, const std::string& data) {
    return u64le(header.size()) + header + data;
  };
  check("abc", "too short");
  check(u64le(uint64_t(1) << 62) + "{}", "header");
  check(file_with(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "1234"), "outside");
  check(file_with(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", "12345678"), "needs 12");
  check(file_with(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", "12345678"),
        "impossible shape");
  check(file_with(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", "12345678"), "outside");
  check(file_with(R"({"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", "12345678"), "C64");
  check(file_with(std::string(100, '[') + std::string(100, ']'), ""), "deeper");
  check(file_with("{not json", ""), "not valid JSON");
  // A good one reads back.
  const std::string path = t.file("ok.safetensors");
  float v[2] = {1.5f, -2.f};
  write_bytes(path, file_with(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                              std::string(reinterpret_cast<char*>(v), 8)));
  auto sd = import::read_safetensors(path);
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].values, std::vector<float>({1.5f, -2.f}));
}

TEST(ImportHostile, ZipWithoutDirectoryOrWithCompressedEntries) {
  TempDir t;
  const std::string path = t.file("x.pth");
  write_bytes(path, "PK\x03\x04" + std::string(40, '\0'));
  try {
    import::read_torch_state_dict(path);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

// Found by fuzz_onnx: a node with neither a name nor an output made the
// error path itself read output(0) (protobuf CHECK failure, std::terminate).
// Also (found writing the CLI memory test) a Gemm weight of another element
// type, whose values were never read, overflowed a heap buffer.
TEST(ImportHostile, OnnxNodesWithoutOutputsAndNonFloatWeights) {
  using namespace perceptra::hostile;
  TempDir t;
  const std::string path = t.file("x.onnx");
  std::string dims;
  for (int d : {1, 1, 2, 2}) dims += pb::bytes(1, pb::num(1, uint64_t(d)));
  const std::string value_info = pb::bytes(1, "x") + pb::bytes(2, pb::bytes(1, pb::num(1, 1) + pb::bytes(2, dims)));
  const std::string graph = pb::bytes(1, pb::bytes(1, "x") + pb::bytes(4, "Relu")) + pb::bytes(11, value_info);
  write_bytes(path, pb::num(1, 7) + pb::bytes(7, graph) + pb::bytes(8, pb::num(2, 13)));
  expect_error(path, ImportOptions{}, "node '(unnamed)' (Relu): has no output");
  write_bytes(path, onnx_gemm(4, {4, 3}, 2, "abcdefghijkl"));
  expect_error(path, ImportOptions{}, "weight holds 0 float values for [4, 3]");
  // The same graph with float32 values imports.
  write_bytes(path, onnx_gemm(4, {4, 3}, 1, std::string(48, '\0')));
  EXPECT_NO_THROW(import_model(path, ImportOptions{}));
}
