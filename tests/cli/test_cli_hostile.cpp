// perceptra-cli against hostile files (issue 18): every command refuses them
// with exit 1 and a message naming the file, never a crash, a hang, a command
// run from stored configuration, or more than 1 GB of memory (each child runs
// under RLIMIT_DATA = 1 GB and a time limit). RLIMIT_DATA, not RLIMIT_AS: the
// CUDA and oneDNN libraries alone map ~950 MB of address space (code, not
// memory), while RLIMIT_DATA bounds the heap and anonymous mappings, which
// is what a hostile file could make us allocate.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/store/store.h"
#include "tests/io/hostile_files.h"
#include "tests/io/hostile_imports.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace perceptra::hostile;

namespace {

struct Result {
  int code = -1;
  std::string out, err;
  bool timed_out = false;
};

constexpr rlim_t kOneGiB = rlim_t(1) << 30;

// Under ASan the 1 GB limit cannot be RLIMIT_DATA (the sanitizer's shadow
// memory alone is larger); the child's allocator enforces it instead: a
// single allocation over 1 GB fails (the CLI then reports "out of memory",
// which EXPECT_REFUSED rejects) and a resident size over 1 GB kills it.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PERCEPTRA_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(PERCEPTRA_TEST_ASAN)
#define PERCEPTRA_TEST_ASAN 1
#endif

struct Child {
  pid_t pid = -1;
  std::string out, err;
  int seconds = 60;
  std::chrono::steady_clock::time_point t0;
};

// Starts the CLI in `dir` with a data-size limit; its output goes to files
// of its own, so several children can run at once.
Child spawn(const std::vector<std::string>& args, const std::string& dir, int seconds = 60, rlim_t data_limit = kOneGiB,
            const std::vector<std::string>& env = {}) {
  static int counter = 0;
  Child c;
  const std::string tag = std::to_string(++counter);
  c.out = dir + "/stdout-" + tag + ".txt";
  c.err = dir + "/stderr-" + tag + ".txt";
  c.seconds = seconds;
  c.t0 = std::chrono::steady_clock::now();
  std::string asan_options;
#ifdef PERCEPTRA_TEST_ASAN
  if (data_limit != RLIM_INFINITY) {
    const char* inherited = std::getenv("ASAN_OPTIONS");
    asan_options = std::string("ASAN_OPTIONS=") + (inherited ? inherited : "") +
                   ":allocator_may_return_null=1:max_allocation_size_mb=" + std::to_string(data_limit >> 20) +
                   ":hard_rss_limit_mb=" + std::to_string(data_limit >> 20);
  }
#endif
  c.pid = fork();
  if (c.pid == 0) {
    int o = open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(c.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    if (chdir(dir.c_str()) != 0) _exit(127);
    if (!asan_options.empty()) {
      putenv(const_cast<char*>(asan_options.c_str()));
    } else {
      rlimit rl{data_limit, data_limit};
      setrlimit(RLIMIT_DATA, &rl);
    }
    for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> argv = {const_cast<char*>(PERCEPTRA_CLI)};
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(PERCEPTRA_CLI, argv.data());
    _exit(127);
  }
  return c;
}

// Waits for a child; one still running after its time limit is killed (timed_out).
Result finish(const Child& c) {
  Result r;
  int status = 0;
  while (waitpid(c.pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - c.t0 > std::chrono::seconds(c.seconds)) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  r.out = slurp(c.out);
  r.err = slurp(c.err);
  return r;
}

Result cli(const std::vector<std::string>& args, const std::string& dir, int seconds = 60, rlim_t data_limit = kOneGiB,
           const std::vector<std::string>& env = {}) {
  return finish(spawn(args, dir, seconds, data_limit, env));
}

// Independent refusals run three at a time: most of a child's time is
// process start-up (loading the engine's libraries), not work.
std::vector<Result> cli_all(const std::vector<std::vector<std::string>>& calls, const std::string& dir,
                            int seconds = 60) {
  std::vector<Child> running(calls.size());
  std::vector<Result> results(calls.size());
  constexpr size_t kAtOnce = 3;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (i >= kAtOnce) results[i - kAtOnce] = finish(running[i - kAtOnce]);
    running[i] = spawn(calls[i], dir, seconds);
  }
  for (size_t i = calls.size() > kAtOnce ? calls.size() - kAtOnce : 0; i < calls.size(); ++i)
    results[i] = finish(running[i]);
  return results;
}

void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string pgm(int w, int h) {
  return "P5\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n" + std::string(size_t(w * h), '\x80');
}

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

class CliHostile : public ::testing::Test {
 protected:
  void SetUp() override { dir = perceptra::test::make_temp_dir("cli-hostile"); }
  void TearDown() override { fs::remove_all(dir); }
  std::string path(const std::string& n) const { return dir + "/" + n; }
  std::string dir;
};

#define EXPECT_REFUSED(r, text)                                             \
  do {                                                                      \
    EXPECT_FALSE((r).timed_out) << "timed out";                             \
    EXPECT_EQ((r).code, 1) << (r).err;                                      \
    EXPECT_NE((r).err.find(text), std::string::npos) << (r).err;            \
    EXPECT_EQ((r).err.find("out of memory"), std::string::npos) << (r).err; \
  } while (0)

}  // namespace

// Items 1, 2, 6 and the "Must show" memory bound: small hostile model files
// are refused by predict, eval and export under a 1 GB address-space limit,
// by validation, not by running out of memory.
TEST_F(CliHostile, HostileModelFilesAreRefusedUnderOneGigabyte) {
  write(path("img.pgm"), pgm(2, 2));
  perceptra::test::make_tiny_dataset(path("data"), 2, 4, 2);
  struct Case {
    std::string name, bytes, message;
  };
  json huge_params = tiny_spec();
  huge_params["layers"] = {{{"type", "flatten"}},
                           {{"type", "linear"}, {"out_features", 1 << 28}},
                           {{"type", "linear"}, {"out_features", 2}}};
  json huge_input = {{"input", {3, 1 << 20, 1 << 20}},
                     {"classes", 2},
                     {"layers", {{{"type", "global_avgpool"}}, {{"type", "linear"}, {"out_features", 2}}}}};
  json deep_res = {{"type", "relu"}};
  // 200 deep: far past both limits (16 residual levels, 100 JSON levels),
  // shallow enough for this test's own (sanitized, -O0) JSON writer's stack.
  for (int i = 0; i < 200; ++i) deep_res = {{"type", "residual"}, {"layers", json::array({deep_res})}};
  json deep_spec = tiny_spec();
  deep_spec["layers"] = json::array({deep_res});
  const std::vector<Case> cases = {
      {"deep.pmodel", container("{\"spec\":" + nested_arrays(150000) + ",\"tensors\":[]}", {}), "nested more than"},
      {"mean.pmodel", tiny_model_file({{"normalization", {{"mean", {0.5}}, {"std", {0.2}}}}}),
       "normalisation has 1 channels"},
      {"names.pmodel", tiny_model_file({{"class_names", {"x"}}}), "1 class names"},
      {"params.pmodel", tiny_model_file(json::object(), 3, 2, huge_params), "more parameters than the file holds"},
      {"input.pmodel", tiny_model_file(json::object(), 3, 2, huge_input), "values per sample"},
      {"residual.pmodel", tiny_model_file(json::object(), 3, 2, deep_spec), "nested more than"},
  };
  std::vector<std::vector<std::string>> calls;
  for (const auto& c : cases) {
    write(path(c.name), c.bytes);
    ASSERT_LT(c.bytes.size(), 10u << 20);
    calls.push_back({"predict", "--model", c.name, "img.pgm"});
  }
  // eval and export share the loader: two kinds of case each keep the test quick.
  for (const std::string name : {"deep.pmodel", "params.pmodel"}) {
    calls.push_back({"eval", "--model", name, "--data", "data"});
    calls.push_back({"export", "--model", name, "--out", "x-" + name + ".onnx"});
  }
  const std::vector<Result> results = cli_all(calls, dir);
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string& name = calls[i][2];
    SCOPED_TRACE(calls[i][0] + " " + name);
    const Case& c = *std::find_if(cases.begin(), cases.end(), [&](const Case& k) { return k.name == name; });
    EXPECT_REFUSED(results[i], c.message);
    EXPECT_NE(results[i].err.find(c.name), std::string::npos) << results[i].err;
  }
  EXPECT_FALSE(fs::exists(path("x-deep.pmodel.onnx")));
  EXPECT_FALSE(fs::exists(path("x-params.pmodel.onnx")));
}

// Items 6 and 7 and the memory bound for data files: a gzip bomb IDX, IDX
// dimensions that overflow, a PNG header declaring 20000x20000 pixels.
TEST_F(CliHostile, HostileDataFilesAreRefusedUnderOneGigabyte) {
  // 700 MB of zeros compress to ~0.7 MB: more than the default 512 MB cap.
  fs::create_directories(path("bomb"));
  {
    z_stream zs{};
    ASSERT_EQ(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out, header = std::string("\0\0\x08\x03", 4) + be32(700u << 20) + be32(1) + be32(1);
    std::vector<char> zeros(1 << 22, 0), buf(1 << 16);
    auto pump = [&](const char* p, size_t n, int flush) {
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(p));
      zs.avail_in = uInt(n);
      do {
        zs.next_out = reinterpret_cast<Bytef*>(buf.data());
        zs.avail_out = uInt(buf.size());
        deflate(&zs, flush);
        out.append(buf.data(), buf.size() - zs.avail_out);
      } while (zs.avail_out == 0);
    };
    pump(header.data(), header.size(), Z_NO_FLUSH);
    for (int i = 0; i < 175; ++i) pump(zeros.data(), zeros.size(), Z_NO_FLUSH);
    pump(nullptr, 0, Z_FINISH);
    deflateEnd(&zs);
    ASSERT_LT(out.size(), 10u << 20);
    write(path("bomb/train-images-idx3-ubyte.gz"), out);
    write(path("bomb/train-labels-idx1-ubyte"), std::string("\0\0\x08\x01", 4) + be32(1) + "\0");
  }

  fs::create_directories(path("dims"));
  write(path("dims/train-images-idx3-ubyte"),
        std::string("\0\0\x08\x03", 4) + be32(0xFFFFFFFFu) + be32(0xFFFFFFFFu) + be32(0xFFFFFFFFu));
  write(path("dims/train-labels-idx1-ubyte"), std::string("\0\0\x08\x01", 4) + be32(1) + "\0");

  fs::create_directories(path("folder/a"));
  fs::create_directories(path("folder/b"));
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
  png += be32(20000) + be32(20000) + std::string("\x08\x02\0\0\0", 5) + std::string(4, '\0');
  write(path("folder/a/0.png"), png);  // first in its folder: it used to set every image's size
  write(path("folder/a/1.pgm"), pgm(4, 4));
  write(path("folder/b/0.pgm"), pgm(4, 4));
  const auto results = cli_all({{"data", "info", "bomb"}, {"data", "info", "dims"}, {"data", "info", "folder"}}, dir);
  const Result &b = results[0], &dm = results[1], &f = results[2];
  EXPECT_REFUSED(b, "PERCEPTRA_MAX_INFLATED_MB");
  EXPECT_REFUSED(dm, "truncated");
  EXPECT_FALSE(f.timed_out);
  EXPECT_EQ(f.code, 0) << f.err;
  EXPECT_NE((f.out + f.err).find("0.png: image header declares 20000x20000"), std::string::npos) << f.err << f.out;
  EXPECT_NE(f.out.find("1x4x4"), std::string::npos) << f.out;  // skipped, not the size
}

// The memory bound for the import formats: small .pth, .safetensors and
// ONNX files declaring gigabytes are refused by `import` under 1 GB, each
// naming the file and the problem. The ONNX case (a uint8 initializer whose
// values were never read) overflowed a heap buffer before.
TEST_F(CliHostile, HostileImportFilesAreRefusedUnderOneGigabyte) {
  struct Case {
    std::string name, bytes, message;
    bool arch = false;
  };
  const std::string sixteen(16, '\0');
  const std::vector<Case> cases = {
      {"storage.pth", torch_file(state_dict_pickle(0x7fffffff, {65536, 32768}, {32768, 1}), sixteen),
       "declares a storage of 2147483647 elements", true},
      {"view.pth", torch_file(state_dict_pickle(4, {65536, 65536}, {0, 0}), sixteen), "views", true},
      {"arch.pth", torch_file(state_dict_pickle(4, {2, 2}, {2, 1}), sixteen),
       "has shape [2, 2] but 'conv0.weight' needs", true},
      {"header.safetensors", std::string("\0\0\0\0\0\0\0\x40", 8) + "{}", "header", true},
      {"shape.safetensors",
       safetensors_file(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", "12345678"),
       "impossible shape", true},
      {"uint8.onnx", onnx_gemm(4, {4, 65536}, 2, ""), "float values"},
      {"short.onnx", onnx_gemm(65536, {65536, 16384}, 1, sixteen), "bytes for 1073741824 floats"},
  };
  std::vector<std::vector<std::string>> calls;
  for (const auto& c : cases) {
    write(path(c.name), c.bytes);
    ASSERT_LT(c.bytes.size(), 10u << 20);
    calls.push_back({"import", c.name, "--out", "m-" + c.name + ".pmodel"});
    if (c.arch) calls.back().insert(calls.back().end(), {"--arch", "resnet18"});
  }
  const std::vector<Result> results = cli_all(calls, dir);
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    EXPECT_REFUSED(results[i], cases[i].message);
    EXPECT_NE(results[i].err.find(cases[i].name), std::string::npos) << results[i].err;
    EXPECT_FALSE(fs::exists(path("m-" + cases[i].name + ".pmodel")));
  }
}

// Issue 18, item 6: memory running out on the trainer thread ended in
// std::terminate (exit 134). A model whose first activation needs 2 GB,
// trained under 1 GB, ends with exit 1, a message saying what ran out and
// where, and a failed (resumable) run in the database.
TEST_F(CliHostile, OutOfMemoryWhileTrainingIsACleanErrorAndAFailedRun) {
  perceptra::test::make_tiny_dataset(path("data"), 3, 10, 8);
  const json spec = {{"name", "wide"},
                     {"layers",
                      {{{"type", "conv2d"}, {"out_channels", 1 << 19}, {"kernel", 1}},
                       {{"type", "global_avgpool"}},
                       {{"type", "linear"}, {"out_features", 3}}}}};
  write(path("wide.json"), spec.dump());
  Result t = cli({"train", "--data", "data", "--model", "wide.json", "--epochs", "1", "--batch-size", "16", "--device",
                  "cpu", "--db", "p.db", "--out", "runs", "--force", "--quiet"},
                 dir, 120);
  EXPECT_FALSE(t.timed_out);
  EXPECT_EQ(t.code, 1) << t.err;
  EXPECT_NE(t.err.find("out of memory in epoch 1"), std::string::npos) << t.err;
  perceptra::ExperimentStore st(path("p.db"));
  const perceptra::RunRecord run = st.run(1);
  EXPECT_EQ(run.status, perceptra::RunStatus::Failed);
  EXPECT_NE(run.status_message.find("out of memory"), std::string::npos) << run.status_message;
}

// Items 7 and 10: predict on a FIFO hung; one bad image aborted the rest; a
// directory was reported without its name; class names printed escapes raw.
TEST_F(CliHostile, PredictSurvivesFifosDirectoriesBadImagesAndEscapes) {
  write(path("m.pmodel"), tiny_model_file({{"class_names", {"\x1b[2Jevil", "ok\x07"}}}));
  write(path("good.pgm"), pgm(2, 2));
  write(path("bad.png"), "not an image");
  fs::create_directories(path("adir"));
  ASSERT_EQ(mkfifo(path("fifo.png").c_str(), 0644), 0);
  ASSERT_EQ(mkfifo(path("fifo.pmodel").c_str(), 0644), 0);

  const auto results = cli_all({{"predict", "--model", "fifo.pmodel", "good.pgm"},
                                {"predict", "--model", "m.pmodel", "bad.png", "fifo.png", "adir", "good.pgm"},
                                {"predict", "--model", "m.pmodel", "--json", "bad.png", "good.pgm"}},
                               dir, 20);
  const Result &m = results[0], &r = results[1], &j = results[2];
  EXPECT_REFUSED(m, "FIFO");
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("bad.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fifo.png: is a FIFO"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("adir: is a directory"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("good.pgm\t"), std::string::npos) << r.out;  // still classified
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x07'), std::string::npos) << r.out;
  EXPECT_EQ(j.code, 1);
  EXPECT_NE(j.out.find("\"error\""), std::string::npos) << j.out;
}

// Item 4 through the CLI: export never replaces a symlink or a read-only file.
TEST_F(CliHostile, ExportRefusesSymlinkAndReadOnlyTargets) {
  write(path("m.pmodel"), tiny_model_file(json::object()));
  write(path("target.onnx"), "precious");
  fs::create_symlink(path("target.onnx"), path("link.onnx"));
  fs::create_directories(path("ro"));
  write(path("ro/target.onnx"), "precious");
  chmod(path("ro/target.onnx").c_str(), 0444);
  const auto results = cli_all({{"export", "--model", "m.pmodel", "--out", "link.onnx"},
                                {"export", "--model", "m.pmodel", "--out", "ro/target.onnx"}},
                               dir);
  const Result &s = results[0], &ro = results[1];
  EXPECT_REFUSED(s, "symbolic link");
  EXPECT_TRUE(fs::is_symlink(path("link.onnx")));
  EXPECT_REFUSED(ro, "read-only");
  EXPECT_EQ(fs::file_size(path("ro/target.onnx")), 8u);
  std::ifstream in(path("target.onnx"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "precious");
}

// Items 1 and 10: a hostile runs row crashed `runs list` (and stopped the
// listing halfway); it is now named on stderr and skipped.
TEST_F(CliHostile, RunsListSkipsAndNamesBadRows) {
  const std::string db = path("p.db");
  int64_t good, deep, typed;
  {
    perceptra::ExperimentStore s(db);
    perceptra::NewRun nr;
    nr.name = "good";
    good = s.create_run(nr);
    nr.name = "deep";
    deep = s.create_run(nr);
    nr.name = "typed";
    nr.hparams = {{"data", 42}, {"optimizer", "x"}};
    nr.model_spec = json::array({1, 2});
    typed = s.create_run(nr);
    for (auto id : {good, deep, typed}) s.finish_run(id, perceptra::RunStatus::Finished);
  }
  {
    std::string nested = std::string(150000, '[') + std::string(150000, ']');
    std::string sqlcmd = "UPDATE runs SET hparams = '" + nested + "' WHERE id = " + std::to_string(deep);
    write(path("u.sql"), sqlcmd);
    ASSERT_EQ(std::system(("sqlite3 " + db + " < " + path("u.sql")).c_str()), 0);
  }
  const auto results = cli_all({{"runs", "list", "--db", "p.db"},
                                {"runs", "list", "--db", "p.db", "--json"},
                                {"runs", "show", std::to_string(deep), "--db", "p.db"},
                                {"runs", "show", std::to_string(typed), "--db", "p.db"}},
                               dir);
  const Result &l = results[0], &lj = results[1], &s = results[2], &t = results[3];
  EXPECT_EQ(l.code, 0) << l.err;
  EXPECT_NE(l.out.find("good"), std::string::npos) << l.out;
  EXPECT_NE(l.out.find("typed"), std::string::npos) << l.out;
  EXPECT_NE(l.err.find("run " + std::to_string(deep)), std::string::npos) << l.err;
  EXPECT_EQ(lj.code, 0) << lj.err;
  EXPECT_EQ(json::parse(lj.out).size(), 2u);
  EXPECT_REFUSED(s, "nested more than");
  EXPECT_EQ(t.code, 0) << t.err;
}

// One trained run serves several items (each CLI start costs time):
// item 8, a non-UTF-8 class folder and run name made `train` and `data info
// --json` fail with [json.exception.type_error.316]; item 5, a notify.command
// stored in runs.hparams (or a --config file) was executed by resume;
TEST_F(CliHostile, TrainedRunNamesStoredCommandsAndFailedResume) {
  perceptra::test::make_tiny_dataset(path("data"), 3, 10, 8);
  fs::rename(path("data/class_b"), path("data/caf\xe9"));
  write(path("tiny.json"), perceptra::test::tiny_mlp_spec().dump());
  Result i = cli({"data", "info", "data", "--json"}, dir);
  EXPECT_EQ(i.code, 0) << i.err;
  EXPECT_NO_THROW(json::parse(i.out));
  const std::vector<std::string> train = {"train",    "--data", "data",         "--model", "tiny.json",
                                          "--epochs", "1",      "--batch-size", "16",      "--device",
                                          "cpu",      "--db",   "p.db",         "--out",   "runs"};
  // The command line may run a command (that is the user asking); resume
  // must not run it again from the stored configuration.
  const std::string asked = path("asked");
  std::vector<std::string> first = train;
  first.insert(first.end(), {"--json", "--name", "r\xff", "--notify", "touch " + asked});
  Result t = cli(first, dir, 120, RLIM_INFINITY);
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_TRUE(fs::exists(asked));
  fs::remove(asked);
  Result l = cli({"runs", "list", "--db", "p.db", "--json"}, dir);
  EXPECT_EQ(l.code, 0) << l.err;
  EXPECT_NO_THROW(json::parse(l.out));

  const std::string pwned = path("pwned");
  write(path("u.sql"),
        "UPDATE runs SET status = 'interrupted', hparams = json_set(hparams, "
        "'$.notify.command', 'touch " +
            pwned + "');");
  ASSERT_EQ(std::system(("sqlite3 " + path("p.db") + " < " + path("u.sql")).c_str()), 0);
  Result r = cli({"resume", "1", "--db", "p.db", "--epochs", "2", "--quiet"}, dir, 120, RLIM_INFINITY);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(pwned)) << "a command from the database was executed";
  EXPECT_FALSE(fs::exists(asked)) << "resume ran the first run's --notify command again";

  write(path("cfg.json"), json{{"notify", {{"command", "touch " + pwned}}}}.dump());
  std::vector<std::string> with_config = train;
  with_config.insert(with_config.end(), {"--config", "cfg.json"});
  Result c = cli(with_config, dir, 120, RLIM_INFINITY);
  EXPECT_EQ(c.code, 2) << c.err;  // a usage error, like any bad config field
  EXPECT_NE(c.err.find("notify.command"), std::string::npos) << c.err;
  EXPECT_FALSE(fs::exists(pwned));
}
