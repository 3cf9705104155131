// OpenMP wait policy. libgomp's idle threads spin for ~300k iterations after
// every parallel region by default. On a 2-core machine that spinning steals
// the core the data loader's prefetch thread (and any other process) needs:
// measured 516 vs 51,151 MLP images/s on a busy machine, and 413 vs 9,232
// MLP / 390 vs 778 SimpleCNN images/s (bench_train, load average 10).
//
// libgomp reads OMP_WAIT_POLICY once, when it is loaded - before main() and
// before any constructor of ours - so setting it at run time is too late.
// Instead, when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT, the
// process re-executes itself once with OMP_WAIT_POLICY=passive, from an ELF
// constructor (glibc passes argc/argv/envp to constructors of the
// executable). PERCEPTRA_OMP_REEXEC=0 turns this off (e.g. under valgrind).
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace perceptra {
namespace {

bool reexec_wanted() {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return false;
  const char* opt = std::getenv("PERCEPTRA_OMP_REEXEC");
  if (opt && std::strcmp(opt, "0") == 0) return false;
  return true;
}

__attribute__((constructor)) void perceptra_omp_wait_policy(int argc, char** argv, char**) {
  if (argc < 1 || !argv || !argv[0] || !reexec_wanted()) return;
  // Set first: the child sees it (no loop), and if exec fails we simply go on
  // with libgomp's default policy.
  if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);
}

}  // namespace

// Referenced from cpu_backend.cpp so the linker keeps this object (and its
// constructor) when perceptra_tensor is a static library.
void cpu_omp_policy_link() {}

}  // namespace perceptra
