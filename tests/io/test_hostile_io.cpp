// Hostile and damaged model files, checkpoints and export targets: each case
// is refused with an InputError naming the file and the problem, before
// anything is allocated from the file or indexed by it (issue 18).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "core/io/atomic_file.h"
#include "core/io/checkpoint.h"
#include "core/io/model_file.h"
#include "core/io/tensor_file.h"
#include "core/nn/residual.h"
#include "core/optim/optimizer.h"
#include "core/tensor/bounded_json.h"
#include "core/tensor/error.h"
#include "tests/io/hostile_files.h"
#include "tests/io/io_test_util.h"

using namespace perceptra;
using namespace perceptra::iotest;
using namespace perceptra::hostile;
using nlohmann::json;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

// Runs f in a thread with a small stack-independent timeout guard: a hang
// (FIFO) fails the test instead of blocking ctest.
std::string error_within(const std::function<void()>& f, int seconds) {
  std::string msg = "(timed out)";
  std::atomic<bool> done{false};
  std::thread t([&] {
    msg = error_of(f);
    done = true;
  });
  for (int i = 0; i < seconds * 20 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!done) {
    t.detach();  // the process ends with the test binary
    return "(timed out)";
  }
  t.join();
  return msg;
}

}  // namespace

// Item 1: 150k nested arrays in the header crashed every loader (stack
// overflow copying basic_json); now the depth is measured before parsing.
TEST(HostileModelFile, DeeplyNestedHeaderJsonIsRefused) {
  TempDir d;
  const std::string deep = "{\"spec\":" + nested_arrays(150000) + ",\"tensors\":[]}";
  write_bytes(d.file("deep.pmodel"), container(deep, {}));
  for (auto* f : {+[](const std::string& p) { load_model(p); }, +[](const std::string& p) { inspect_model_file(p); },
                  +[](const std::string& p) { load_checkpoint(p); }}) {
    std::string e = error_of([&] { f(d.file("deep.pmodel")); });
    EXPECT_NE(e.find("deep.pmodel"), std::string::npos) << e;
    EXPECT_NE(e.find("nested more than"), std::string::npos) << e;
  }
  EXPECT_EQ(json_nesting_depth("[\"[[[[\", {\"a\": [1]}]"), 3);
  EXPECT_THROW(parse_json_bounded(nested_arrays(101), "x"), InputError);
  EXPECT_NO_THROW(parse_json_bounded(nested_arrays(100), "x"));
}

// Item 1: residual blocks nested ~5000 deep crashed train and predict.
TEST(HostileModelFile, ResidualNestingIsBounded) {
  json inner = {{"type", "relu"}};
  for (int i = 0; i < 40; ++i) inner = {{"type", "residual"}, {"layers", json::array({inner})}};
  json spec = {{"input", {4}}, {"classes", 4}, {"layers", json::array({inner})}};
  Rng rng(0);
  std::string e = error_of([&] { Model::from_spec(spec, rng); });
  EXPECT_NE(e.find("nested more than " + std::to_string(Residual::kMaxNesting)), std::string::npos) << e;
  // Real nesting (a block in a block) still builds.
  json two = {{"type", "residual"},
              {"layers", json::array({json{{"type", "residual"}, {"layers", json::array({json{{"type", "relu"}}})}}})}};
  json ok = {{"input", {4}}, {"classes", 4}, {"layers", json::array({two})}};
  EXPECT_NO_THROW(Model::from_spec(ok, rng));
}

// Item 2: predict read mean[c]/std[c] for every channel and eval indexed
// class_names by class: the loader now refuses inconsistent metadata.
TEST(HostileModelFile, MetadataMustFitTheSpecBeforeAnyUse) {
  TempDir d;
  write_bytes(d.file("mean.pmodel"), tiny_model_file({{"normalization", {{"mean", {0.5}}, {"std", {0.2}}}}}));
  std::string e = error_of([&] { load_model(d.file("mean.pmodel")); });
  EXPECT_NE(e.find("mean.pmodel"), std::string::npos) << e;
  EXPECT_NE(e.find("normalisation has 1 channels"), std::string::npos) << e;

  write_bytes(d.file("names.pmodel"), tiny_model_file({{"class_names", {"only-one"}}}));
  e = error_of([&] { load_model(d.file("names.pmodel")); });
  EXPECT_NE(e.find("1 class names but the model has 2 classes"), std::string::npos) << e;
  e = error_of([&] { inspect_model_file(d.file("names.pmodel")); });
  EXPECT_NE(e.find("1 class names"), std::string::npos) << e;

  write_bytes(d.file("ok.pmodel"),
              tiny_model_file({{"class_names", {"a", "b"}},
                               {"normalization", {{"mean", {0.5, 0.5, 0.5}}, {"std", {0.2, 0.2, 0.2}}}}}));
  auto lm = load_model(d.file("ok.pmodel"));
  EXPECT_EQ(lm.meta.mean.size(), 3u);
}

// Item 6: weights were allocated from the spec before the stored tensors
// were checked, so a small file could ask for gigabytes.
TEST(HostileModelFile, SpecMayNotAllocateMoreThanTheFileHolds) {
  TempDir d;
  json spec = {{"input", {3, 2, 2}},
               {"classes", 2},
               {"layers",
                {{{"type", "flatten"}},
                 {{"type", "linear"}, {"out_features", 1 << 28}},
                 {{"type", "linear"}, {"out_features", 2}}}}};
  write_bytes(d.file("huge.pmodel"), tiny_model_file(json::object(), 3, 2, spec));
  std::string e = error_of([&] { load_model(d.file("huge.pmodel")); });
  EXPECT_NE(e.find("declares more parameters than the file holds"), std::string::npos) << e;
  EXPECT_NE(e.find("huge.pmodel"), std::string::npos) << e;

  // Activations too: a huge input plane is refused from the shapes alone.
  json wide = {{"input", {3, 1 << 20, 1 << 20}},
               {"classes", 2},
               {"layers", {{{"type", "global_avgpool"}}, {{"type", "linear"}, {"out_features", 2}}}}};
  Rng rng(0);
  e = error_of([&] { Model::from_spec(wide, rng); });
  EXPECT_NE(e.find("values per sample"), std::string::npos) << e;
}

// Item 6: dilation * (kernel - 1) overflowed int and passed the fit check.
TEST(HostileModelFile, ConvGeometryIsComputedIn64Bits) {
  json spec = {{"input", {1, 8, 8}},
               {"classes", 2},
               {"layers",
                {{{"type", "conv2d"}, {"out_channels", 2}, {"kernel", 3}, {"dilation", 1 << 30}},
                 {{"type", "global_avgpool"}}}}};
  Rng rng(0);
  std::string e = error_of([&] { Model::from_spec(spec, rng); });
  EXPECT_NE(e.find("layer 0 (conv2d)"), std::string::npos) << e;
}

// Item 6: numel * 4 wrapped in tensor_file for a hostile shape.
TEST(HostileModelFile, TensorShapesCannotOverflowThePayloadCheck) {
  TempDir d;
  const int64_t big = int64_t(1) << 31;
  json header = {{"spec", tiny_spec()},
                 {"tensors", {{{"name", "fc1.weight"}, {"section", "weights"}, {"shape", {big, big, 4}}}}}};
  write_bytes(d.file("wrap.pmodel"), container(header.dump(), {1.f, 2.f}));
  std::string e = error_of([&] { load_model(d.file("wrap.pmodel")); });
  EXPECT_NE(e.find("extends past the payload"), std::string::npos) << e;
}

// Item 7: reading a FIFO as a model blocked forever.
TEST(HostileModelFile, FifoAndDevicesAreRefusedWithoutBlocking) {
  TempDir d;
  ASSERT_EQ(mkfifo(d.file("pipe.pmodel").c_str(), 0644), 0);
  std::string path = d.file("pipe.pmodel");
  std::string e = error_within([&] { load_model(path); }, 10);
  EXPECT_NE(e.find("FIFO"), std::string::npos) << e;
  e = error_of([] { load_model("/dev/zero"); });
  EXPECT_NE(e.find("device"), std::string::npos) << e;
  e = error_of([&] { load_model(d.path.string()); });
  EXPECT_NE(e.find("directory"), std::string::npos) << e;
}

// Item 9: hand-edited checkpoint state (valid checksum) was trusted.
TEST(HostileCheckpoint, StateRangesAndOptimizerShapesAreChecked) {
  TempDir d;
  Rng rng(1);
  auto model = Model::from_spec(tiny_spec(), rng);
  OptimizerConfig oc;
  oc.kind = "sgd";
  oc.lr = 0.1f;
  oc.momentum = 0.9f;
  auto opt = make_optimizer(oc, model->parameters());
  Tensor x = random_input(Shape{3, 2, 2}, 4, 1);
  model->forward(x, true);
  model->backward(Tensor::full(Shape{4, 2}, 0.1f));
  opt->step();
  CheckpointState st;
  st.epoch = 1;
  st.step = 3;
  st.trainer = {{"batch", 1}};
  save_checkpoint(d.file("ok.ckpt"), *model, opt.get(), {}, st);
  auto good = tensor_file::read(d.file("ok.ckpt"));
  EXPECT_NO_THROW(load_checkpoint(d.file("ok.ckpt")));

  auto edited = [&](const std::function<void(json&)>& edit, const std::string& name) {
    json h = good.header;
    edit(h);
    std::vector<float> payload;
    for (const auto& t : good.tensors) payload.insert(payload.end(), t.values.begin(), t.values.end());
    write_bytes(d.file(name), container(h.dump(), payload, 2));
    return error_of([&] { load_checkpoint(d.file(name)); });
  };
  EXPECT_NE(edited([](json& h) { h["state"]["epoch"] = -5; }, "e.ckpt").find("epoch -5"), std::string::npos);
  EXPECT_NE(edited([](json& h) { h["state"]["step"] = -1; }, "s.ckpt").find("step -1"), std::string::npos);
  EXPECT_NE(edited([](json& h) { h["state"]["trainer"]["batch"] = 1e15; }, "b.ckpt").find("'batch'"),
            std::string::npos);

  // A transposed optimizer tensor (same element count) is refused on restore.
  std::vector<std::pair<std::string, Tensor>> state = opt->state();
  for (auto& [name, t] : state)
    if (name.find("fc1.weight.") == 0 && t.shape().rank() == 2)
      t = Tensor::from_vector(Shape{t.shape()[1], t.shape()[0]}, t.to_vector());
  EXPECT_THROW(opt->load_state(state), InputError);
}

// Item 4: export's atomic rename replaced devices, FIFOs, symlinks and
// read-only files with regular files.
TEST(HostileExport, NonRegularSymlinkAndReadOnlyTargetsAreNeverReplaced) {
  TempDir d;
  Rng rng(0);
  auto model = Model::from_spec(tiny_spec(), rng);
  write_bytes(d.file("real.pmodel"), "keep me");
  ASSERT_EQ(symlink(d.file("real.pmodel").c_str(), d.file("link.pmodel").c_str()), 0);
  ASSERT_EQ(mkfifo(d.file("fifo.pmodel").c_str(), 0644), 0);
  write_bytes(d.file("ro.pmodel"), "read only");
  chmod(d.file("ro.pmodel").c_str(), 0444);

  std::string e = error_of([&] { save_model(d.file("link.pmodel"), *model); });
  EXPECT_NE(e.find("symbolic link"), std::string::npos) << e;
  EXPECT_EQ(read_bytes(d.file("real.pmodel")), "keep me");
  struct stat st {};
  ASSERT_EQ(lstat(d.file("link.pmodel").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));

  e = error_of([&] { save_model(d.file("fifo.pmodel"), *model); });
  EXPECT_NE(e.find("not a regular file"), std::string::npos) << e;
  ASSERT_EQ(lstat(d.file("fifo.pmodel").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));

  e = error_of([&] { save_model(d.file("ro.pmodel"), *model); });
  EXPECT_NE(e.find("read-only"), std::string::npos) << e;
  EXPECT_EQ(read_bytes(d.file("ro.pmodel")), "read only");

  e = error_of([&] { save_model("/dev/null", *model); });
  EXPECT_NE(e.find("/dev/null"), std::string::npos) << e;
  // Nothing left behind, and a plain file is still replaced.
  EXPECT_EQ(d.entries(), 4u);
  EXPECT_NO_THROW(save_model(d.file("new.pmodel"), *model));
  EXPECT_NO_THROW(save_model(d.file("new.pmodel"), *model));
}

// Item 10: kill -9 during a write left *.tmp-PID-N files forever.
TEST(HostileExport, StaleTemporariesOfDeadWritersAreCleanedOnOpen) {
  TempDir d;
  // A pid that is certainly gone: a child that has exited and been reaped.
  pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  const std::string stale = d.file(".m.pmodel.tmp-" + std::to_string(child) + "-0");
  const std::string live = d.file(".m.pmodel.tmp-" + std::to_string(getpid()) + "-999");
  write_bytes(stale, std::string(1000, 'x'));
  write_bytes(live, "in progress");
  write_bytes(d.file("notes.tmp-1-x"), "not ours");
  Rng rng(0);
  auto model = Model::from_spec(tiny_spec(), rng);
  save_model(d.file("m.pmodel"), *model);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(live));  // its writer (us) is alive
  EXPECT_TRUE(std::filesystem::exists(d.file("notes.tmp-1-x")));
}

// Item 10: unknown top-level spec fields were accepted (a typo passed).
TEST(HostileModelFile, UnknownTopLevelSpecFieldsAreRefused) {
  json spec = tiny_spec();
  spec["clases"] = 3;
  Rng rng(0);
  std::string e = error_of([&] { Model::from_spec(spec, rng); });
  EXPECT_NE(e.find("unknown top-level field 'clases'"), std::string::npos) << e;
  EXPECT_THROW(Model::analyze(spec), InputError);
  spec.erase("clases");
  spec["meta"] = {{"author", "me"}};
  EXPECT_NO_THROW(Model::from_spec(spec, rng));
}
