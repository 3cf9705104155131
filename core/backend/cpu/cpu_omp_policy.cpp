// OpenMP wait policy. libgomp's idle threads spin for ~300k iterations after
// every parallel region by default. On a 2-core machine that spinning steals
// the core the data loader's prefetch thread (and any other process) needs:
// measured 516 vs 51,151 MLP images/s on a busy machine, and 413 vs 9,232
// MLP / 390 vs 778 SimpleCNN images/s (bench_train, load average 10).
// Not spinning at all (OMP_WAIT_POLICY=passive, our setting until
// 2026-12-02) costs a futex wake-up at every region instead: the MLP's
// step is a dozen short regions, and on an idle machine passive gave 48,474
// training / 156,194 inference images/s against 57,948 / 243,081 spinning.
// A short spin, GOMP_SPINCOUNT=10000 (tens of microseconds: the gap between
// two ops of a step), kept 58,100 / 215,142 idle and 7,263 / 21,504 with
// four busy loops on the two cores, where passive gave 7,868 / 20,409 and
// 100,000 collapsed to 1,623 / 6,229.
//
// libgomp reads its variables once, when it is loaded - before main() - so
// setting them at run time is too late: the program re-executes itself once
// with the variable set. That is process policy, so each program's main()
// asks for it (apply_omp_wait_policy); a library constructor doing it would
// re-execute every binary linking the engine (tests, embedders).
// PERCEPTRA_OMP_REEXEC=0 turns it off (e.g. under valgrind or a debugger).
//
// The same re-execution sets OPENBLAS_NUM_THREADS=1 when unset. We never
// call BLAS, but OpenCV loads libblas.so.3, which is OpenBLAS once
// libopenblas0-pthread is installed (the fair PyTorch peer needs it). Its
// pthread build starts a worker per core at load, each mapping a 64-128 MB
// buffer; under an address-space limit (RLIMIT_AS, e.g. `ulimit -v`) a
// worker whose mmap fails retries forever and exit() waits for it: the
// process hangs after its last line of output.
#include "core/backend/cpu/cpu_omp_policy.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace perceptra {

namespace {
bool policy_chosen() { return std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT"); }
bool openblas_threads_chosen() { return std::getenv("OPENBLAS_NUM_THREADS") != nullptr; }
}  // namespace

bool omp_wait_policy_reexec_wanted() {
  if (policy_chosen() && openblas_threads_chosen()) return false;
  const char* opt = std::getenv("PERCEPTRA_OMP_REEXEC");
  return !(opt && std::strcmp(opt, "0") == 0);
}

void apply_omp_wait_policy(char** argv) {
  if (!argv || !argv[0] || !omp_wait_policy_reexec_wanted()) return;
  // Set first: the new image sees them (no loop), and if exec fails we
  // simply go on with the libraries' defaults. The user's choices stay.
  if (!policy_chosen() && setenv("GOMP_SPINCOUNT", kOmpSpinCount, 1) != 0) return;
  if (!openblas_threads_chosen() && setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0) return;
  execv("/proc/self/exe", argv);
}

}  // namespace perceptra
