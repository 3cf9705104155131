// Allreduce cost on this machine (the communication term of the
// data-parallel cost model in bench/README.md): float32 buckets of the
// gradient sizes of our models, summed over the ranks, median of REPS.
//   mpirun -np 2 build/bench/bench_allreduce [REPS]
// (as root: mpirun --allow-run-as-root; more ranks than cores: --oversubscribe)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/dist/communicator.h"

using namespace perceptra;

int main(int argc, char** argv) {
  apply_omp_wait_policy(argv);
  const int reps = argc > 1 ? std::max(3, std::atoi(argv[1])) : 20;
  std::shared_ptr<Communicator> w;
  try {
    if (!launched_by_mpi()) throw Error("start me with mpirun -np N");
    w = mpi_world();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_allreduce: %s\n", e.what());
    return 1;
  }
  struct Size {
    const char* what;
    size_t floats;
  };
  const Size sizes[] = {{"statistics (5 doubles as floats)", 10},
                        {"mlp / simplecnn-sized (1.7 MB)", 421'800},
                        {"lenet5-sized (0.25 MB)", 61'706},
                        {"resnet18-sized (46.8 MB)", 11'689'512}};
  if (w->rank() == 0)
    std::printf("%d ranks; median of %d allreduces (sum, in place); bus bandwidth = 2 (N-1)/N x bytes / time\n",
                w->size(), reps);
  for (const Size& s : sizes) {
    std::vector<float> buf(s.floats, 1.f);
    w->allreduce_sum(buf.data(), buf.size());  // warm-up
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      w->allreduce_sum(buf.data(), buf.size());
      t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    const double med = t[t.size() / 2];
    const double bytes = double(s.floats) * sizeof(float);
    const double n = w->size();
    if (w->rank() == 0)
      std::printf("  %-34s %10.3f MB  %9.3f ms  %7.2f GB/s bus\n", s.what, bytes / 1e6, med * 1e3,
                  2 * (n - 1) / n * bytes / med / 1e9);
  }
  return 0;
}
