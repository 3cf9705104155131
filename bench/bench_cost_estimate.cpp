// The cost estimate against the truth: for each model and image size,
// `perceptra-cli train --dry-run --json` gives the projected peak memory,
// then the same command trains a few batches (and a validation pass) in a
// child process whose peak RSS the kernel reports (wait4's ru_maxrss). The
// table prints both and their ratio; --check exits 1 when any estimate is
// more than 25 % off (ctest runs that, label slow).
//
//   bench_cost_estimate [--cli PATH] [--check] [--quick]
//
// The photo folder is generated (colour PPM files, 3 classes).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {

std::string g_cli;

// Writes <dir>/<class>/img_i.ppm, `size`x`size` colour images.
void make_photos(const fs::path& dir, int classes, int per_class, int size) {
  uint32_t s = 12345;
  auto rnd = [&] {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  };
  for (int c = 0; c < classes; ++c) {
    fs::path cdir = dir / ("class_" + std::to_string(c));
    fs::create_directories(cdir);
    for (int i = 0; i < per_class; ++i) {
      std::ofstream f(cdir / ("img_" + std::to_string(i) + ".ppm"), std::ios::binary);
      f << "P6\n" << size << " " << size << "\n255\n";
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x)
          for (int ch = 0; ch < 3; ++ch) {
            int v = int(rnd() % 80) + (ch == c % 3 ? 120 : 0) + ((x / 16 + y / 16 + c) % 2) * 40;
            f.put(char(std::min(v, 255)));
          }
    }
  }
}

struct Child {
  int status = -1;
  long maxrss_kb = 0;
  std::string out;
};

// Runs the CLI with `args`, stdout captured; the child's own peak RSS.
Child run_cli(const std::vector<std::string>& args) {
  int pipefd[2];
  if (pipe(pipefd) != 0) std::exit(2);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(g_cli.c_str()));
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    setenv("OMP_WAIT_POLICY", "passive", 1);  // no re-exec
    execv(g_cli.c_str(), argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  Child c;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) c.out.append(buf, size_t(n));
  close(pipefd[0]);
  struct rusage ru {};
  wait4(pid, &c.status, 0, &ru);
  c.maxrss_kb = ru.ru_maxrss;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  bool check = false, quick = false;
  g_cli = (fs::path(argv[0]).parent_path().parent_path() / "app" / "perceptra-cli").string();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--check")
      check = true;
    else if (a == "--quick")
      quick = true;
    else if (a == "--cli" && i + 1 < argc)
      g_cli = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_cost_estimate [--cli PATH] [--check] [--quick]\n");
      return 2;
    }
  }
  const fs::path dir = fs::temp_directory_path() / ("perceptra-cost-" + std::to_string(getpid()));
  fs::create_directories(dir);
  make_photos(dir / "photos", 3, 40, 224);

  struct Case {
    std::string model;
    int size, batch;
  };
  std::vector<Case> cases = {{"simplecnn", 64, 32},     {"simplecnn", 160, 32}, {"resnet-small", 64, 32},
                             {"resnet-small", 128, 32}, {"resnet18", 64, 16},   {"resnet18", 128, 16}};
  if (quick) cases = {{"simplecnn", 64, 32}, {"resnet-small", 64, 32}};
  std::printf("%-13s %5s %5s %12s %12s %7s\n", "model", "size", "batch", "estimate MB", "measured MB", "ratio");
  bool ok = true;
  for (const auto& c : cases) {
    std::vector<std::string> common = {"train",
                                       "--data",
                                       (dir / "photos").string(),
                                       "--image-size",
                                       std::to_string(c.size),
                                       "--model",
                                       c.model,
                                       "--batch-size",
                                       std::to_string(c.batch),
                                       "--epochs",
                                       "1",
                                       "--max-batches",
                                       "3",
                                       "--db",
                                       "-",
                                       "--out",
                                       (dir / "runs").string(),
                                       "--threads",
                                       "2",
                                       "--valid-pct",
                                       "25"};
    std::vector<std::string> dry = common;
    dry.push_back("--dry-run");
    dry.push_back("--json");
    Child e = run_cli(dry);
    double est_mb = 0;
    try {
      auto j = nlohmann::json::parse(e.out);
      est_mb = j.at("peak_train_bytes").get<double>() / (1 << 20);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "%s %d: dry run failed (%s): %s\n", c.model.c_str(), c.size, ex.what(), e.out.c_str());
      ok = false;
      continue;
    }
    std::vector<std::string> train = common;
    train.push_back("--quiet");
    Child t = run_cli(train);
    if (!WIFEXITED(t.status) || WEXITSTATUS(t.status) != 0) {
      std::fprintf(stderr, "%s %d: training failed (status %d)\n", c.model.c_str(), c.size, t.status);
      ok = false;
      continue;
    }
    const double meas_mb = double(t.maxrss_kb) / 1024.0;
    const double ratio = est_mb / meas_mb;
    const bool within = std::fabs(ratio - 1.0) <= 0.25;
    ok = ok && within;
    std::printf("%-13s %5d %5d %12.0f %12.0f %7.2f%s\n", c.model.c_str(), c.size, c.batch, est_mb, meas_mb, ratio,
                within ? "" : "  (off by more than 25 %)");
    std::fflush(stdout);
  }
  fs::remove_all(dir);
  if (check && !ok) return 1;
  return 0;
}
