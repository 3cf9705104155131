#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

#include "core/io/atomic_file.h"
#include "core/io/checkpoint.h"
#include "core/io/model_file.h"
#include "core/tensor/error.h"
#include "tests/io/io_test_util.h"

using namespace perceptra;
using namespace perceptra::iotest;

namespace {

ModelMeta fashion_meta() {
  ModelMeta m;
  m.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  m.mean = {0.2860f};
  m.std = {0.3530f};
  m.training = {{"dataset", "fashion-mnist"}, {"epochs", 2}, {"valid_accuracy", 0.906}};
  return m;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected InputError";
  return "";
}

void expect_bit_identical(Model& a, Model& b) {
  auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pa[i]->name, pb[i]->name);
    ASSERT_EQ(pa[i]->value.shape(), pb[i]->value.shape()) << pa[i]->name;
    auto va = pa[i]->value.to_vector(), vb = pb[i]->value.to_vector();
    EXPECT_EQ(std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)), 0) << pa[i]->name;
  }
}

// Rewrites a file's JSON header and fixes up lengths and CRC, as a careful
// tamperer (or a buggy tool) would: the checksum alone cannot catch it.
void rewrite_header(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  std::string b = read_bytes(path);
  uint64_t h, p;
  std::memcpy(&h, b.data() + 16, 8);
  std::memcpy(&p, b.data() + 24, 8);
  auto header = nlohmann::json::parse(b.substr(32, h));
  edit(header);
  std::string json = header.dump();
  std::string out = b.substr(0, 16);
  uint64_t nh = json.size();
  out.append(reinterpret_cast<const char*>(&nh), 8);
  out.append(reinterpret_cast<const char*>(&p), 8);
  out += json;
  out += b.substr(32 + h, p);
  uint32_t crc = uint32_t(crc32(crc32(0, Z_NULL, 0), reinterpret_cast<const Bytef*>(out.data()), uInt(out.size())));
  out.append(reinterpret_cast<const char*>(&crc), 4);
  write_bytes(path, out);
}

}  // namespace

TEST(ModelFile, RoundTripIsBitIdenticalForEveryBuiltin) {
  TempDir t;
  for (const auto& name : Model::builtin_names()) {
    SCOPED_TRACE(name);
    auto model = trained_looking_model(name, Shape{1, 28, 28}, 10, 7);
    std::string path = t.file(name + ".pmodel");
    save_model(path, *model, fashion_meta());
    auto loaded = load_model(path);
    ASSERT_TRUE(loaded.model);
    EXPECT_EQ(loaded.model->spec(), model->spec());
    EXPECT_EQ(loaded.model->input_shape(), model->input_shape());
    EXPECT_EQ(loaded.model->num_classes(), 10);
    expect_bit_identical(*model, *loaded.model);
    // Same outputs, exactly (same weights, same kernels).
    Tensor x = random_input(Shape{1, 28, 28}, 4, 99);
    auto ya = model->forward(x, false).to_vector();
    auto yb = loaded.model->forward(x, false).to_vector();
    EXPECT_EQ(ya, yb);
    // Metadata.
    EXPECT_EQ(loaded.meta.class_names, fashion_meta().class_names);
    EXPECT_EQ(loaded.meta.mean, fashion_meta().mean);
    EXPECT_EQ(loaded.meta.std, fashion_meta().std);
    EXPECT_EQ(loaded.meta.training["valid_accuracy"], 0.906);
    EXPECT_FALSE(loaded.meta.created_at.empty());
    EXPECT_FALSE(loaded.meta.perceptra_version.empty());
  }
  EXPECT_EQ(t.entries(), Model::builtin_names().size());  // no temporaries left behind
}

TEST(ModelFile, FileLayoutIsAsDocumented) {
  TempDir t;
  auto model = trained_looking_model("mlp", Shape{1, 28, 28}, 10, 1);
  std::string path = t.file("m.pmodel");
  save_model(path, *model);
  std::string b = read_bytes(path);
  ASSERT_GE(b.size(), 36u);
  EXPECT_EQ(std::memcmp(b.data(), "PRCPTRA\0", 8), 0);
  uint32_t version, kind;
  uint64_t h, p;
  std::memcpy(&version, b.data() + 8, 4);
  std::memcpy(&kind, b.data() + 12, 4);
  std::memcpy(&h, b.data() + 16, 8);
  std::memcpy(&p, b.data() + 24, 8);
  EXPECT_EQ(version, 1u);
  EXPECT_EQ(kind, 1u);
  EXPECT_EQ(32 + h + p + 4, b.size());
  int64_t elements = 0;
  for (auto* prm : model->parameters()) elements += prm->value.numel();
  EXPECT_EQ(p, uint64_t(elements) * 4);
  auto header = nlohmann::json::parse(b.substr(32, h));
  ASSERT_EQ(header["tensors"].size(), model->parameters().size());
  EXPECT_EQ(header["tensors"][0]["name"], model->parameters()[0]->name);
  // The first tensor's first value, raw little-endian float32 right after the header.
  float first;
  std::memcpy(&first, b.data() + 32 + h, 4);
  EXPECT_EQ(first, model->parameters()[0]->value.to_vector()[0]);

  auto info = inspect_model_file(path);
  EXPECT_EQ(info.kind, "model");
  EXPECT_EQ(info.format_version, 1u);
  EXPECT_EQ(info.tensor_count, model->parameters().size());
  EXPECT_EQ(info.parameter_elements, elements);
  EXPECT_EQ(info.spec["name"], "mlp");
}

TEST(ModelFile, TruncatedFilesAreRefused) {
  TempDir t;
  auto model = trained_looking_model("simplecnn", Shape{1, 28, 28}, 10, 2);
  std::string path = t.file("m.pmodel");
  save_model(path, *model);
  const std::string good = read_bytes(path);
  for (size_t len : {size_t(0), size_t(4), size_t(20), size_t(40), good.size() / 2, good.size() - 4, good.size() - 1}) {
    SCOPED_TRACE(len);
    std::string cut = t.file("cut.pmodel");
    write_bytes(cut, good.substr(0, len));
    std::string msg = error_of([&] { load_model(cut); });
    EXPECT_NE(msg.find(cut), std::string::npos) << msg;
    if (len >= 8) {
      EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
    }
  }
  std::string longer = t.file("long.pmodel");
  write_bytes(longer, good + "xyz");
  EXPECT_NE(error_of([&] { load_model(longer); }).find("trailing bytes"), std::string::npos);
}

TEST(ModelFile, FlippedBytesAreDetectedAnywhere) {
  TempDir t;
  auto model = trained_looking_model("lenet5", Shape{1, 28, 28}, 10, 3);
  std::string path = t.file("m.pmodel");
  save_model(path, *model, fashion_meta());
  const std::string good = read_bytes(path);
  uint64_t h;
  std::memcpy(&h, good.data() + 16, 8);
  // In the JSON header, in the first and the last weight, in the CRC itself.
  for (size_t pos : {size_t(32 + 10), size_t(32 + h + 1), good.size() - 6, good.size() - 2}) {
    SCOPED_TRACE(pos);
    std::string bad = good;
    bad[pos] = char(bad[pos] ^ 0x01);
    std::string p2 = t.file("flipped.pmodel");
    write_bytes(p2, bad);
    std::string msg = error_of([&] { load_model(p2); });
    EXPECT_NE(msg.find("checksum mismatch"), std::string::npos) << msg;
    EXPECT_NE(msg.find(p2), std::string::npos) << msg;
  }
}

TEST(ModelFile, WrongMagicOrVersionIsRefused) {
  TempDir t;
  auto model = trained_looking_model("mlp", Shape{1, 28, 28}, 10, 4);
  std::string path = t.file("m.pmodel");
  save_model(path, *model);
  std::string good = read_bytes(path);

  std::string bad = good;
  bad[0] = 'X';
  write_bytes(path, bad);
  EXPECT_NE(error_of([&] { load_model(path); }).find("bad magic"), std::string::npos);

  bad = good;
  uint32_t v = 2;
  std::memcpy(bad.data() + 8, &v, 4);
  write_bytes(path, bad);
  std::string msg = error_of([&] { load_model(path); });
  EXPECT_NE(msg.find("format version 2 is not supported"), std::string::npos) << msg;

  write_bytes(path, std::string("just some text that is long enough to look like a header..."));
  EXPECT_NE(error_of([&] { load_model(path); }).find("bad magic"), std::string::npos);

  msg = error_of([&] { load_model(t.file("missing.pmodel")); });
  EXPECT_NE(msg.find("missing.pmodel"), std::string::npos);
  EXPECT_NE(msg.find("cannot open"), std::string::npos);
}

TEST(ModelFile, WeightsThatDoNotMatchTheSpecAreRefused) {
  TempDir t;
  auto model = trained_looking_model("mlp", Shape{1, 28, 28}, 10, 5);
  std::string path = t.file("m.pmodel");
  save_model(path, *model);
  // Spec edited to a wider hidden layer, checksum recomputed.
  rewrite_header(path, [](nlohmann::json& h) { h["spec"]["layers"][1]["out_features"] = 600; });
  std::string msg = error_of([&] { load_model(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("weight tensor"), std::string::npos) << msg;

  save_model(path, *model);
  rewrite_header(path, [](nlohmann::json& h) { h["spec"]["layers"][1]["type"] = "warp_drive"; });
  msg = error_of([&] { load_model(path); });
  EXPECT_NE(msg.find("stored model spec is invalid"), std::string::npos) << msg;
}

TEST(ModelFile, MetadataMustFitTheModel) {
  TempDir t;
  auto model = trained_looking_model("mlp", Shape{1, 28, 28}, 10, 6);
  ModelMeta m;
  m.class_names = {"a", "b"};
  std::string path = t.file("m.pmodel");
  EXPECT_NE(error_of([&] { save_model(path, *model, m); }).find("2 class names"), std::string::npos);
  m = {};
  m.mean = {0.5f, 0.5f, 0.5f};
  m.std = {0.2f, 0.2f, 0.2f};
  EXPECT_NE(error_of([&] { save_model(path, *model, m); }).find("3 channels"), std::string::npos);
  m.mean = {0.5f};
  m.std = {0.f};
  EXPECT_NE(error_of([&] { save_model(path, *model, m); }).find("not usable"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(t.entries(), 0u);
}

TEST(AtomicWrite, FailureMidWriteKeepsThePreviousFileAndLeavesNoTemporary) {
  TempDir t;
  auto a = trained_looking_model("simplecnn", Shape{1, 28, 28}, 10, 8);
  auto b = trained_looking_model("simplecnn", Shape{1, 28, 28}, 10, 9);
  std::string path = t.file("m.pmodel");
  save_model(path, *a);
  const std::string before = read_bytes(path);

  AtomicFile::fail_after_bytes_for_testing(100000);  // a disk that fills up mid-file
  std::string msg = error_of([&] { save_model(path, *b); });
  AtomicFile::fail_after_bytes_for_testing(-1);
  EXPECT_NE(msg.find("No space left"), std::string::npos) << msg;
  EXPECT_EQ(read_bytes(path), before);  // previous model intact
  EXPECT_EQ(t.entries(), 1u);           // and no temporary file

  // A new target that fails is never created.
  AtomicFile::fail_after_bytes_for_testing(10);
  EXPECT_THROW(save_model(t.file("new.pmodel"), *b), InputError);
  AtomicFile::fail_after_bytes_for_testing(-1);
  EXPECT_FALSE(std::filesystem::exists(t.file("new.pmodel")));
  EXPECT_EQ(t.entries(), 1u);

  // An exception thrown by the writer itself behaves the same.
  EXPECT_THROW(write_file_atomically(path,
                                     [](AtomicFile& f) {
                                       f.write("partial");
                                       throw std::runtime_error("simulated crash");
                                     }),
               std::runtime_error);
  EXPECT_EQ(read_bytes(path), before);
  EXPECT_EQ(t.entries(), 1u);

  save_model(path, *b);  // and a normal save replaces it
  EXPECT_NE(read_bytes(path), before);
  expect_bit_identical(*load_model(path).model, *b);
}

TEST(AtomicWrite, MissingOrUnwritableDirectoryNamesTheFile) {
  TempDir t;
  auto model = trained_looking_model("mlp", Shape{1, 28, 28}, 10, 10);
  std::string path = t.file("no/such/dir/m.pmodel");
  std::string msg = error_of([&] { save_model(path, *model); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  msg = error_of([&] { save_model(t.path.string(), *model); });
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;
  if (geteuid() != 0) {  // root writes anywhere: permissions cannot be tested as root
    std::filesystem::create_directory(t.file("ro"));
    std::filesystem::permissions(t.file("ro"), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
    msg = error_of([&] { save_model(t.file("ro/m.pmodel"), *model); });
    EXPECT_NE(msg.find("cannot create"), std::string::npos) << msg;
    std::filesystem::permissions(t.file("ro"), std::filesystem::perms::owner_all);
    EXPECT_TRUE(std::filesystem::is_empty(t.file("ro")));
  }
}
