// Our float32 GEMM kernel (cpu_gemm_kernel.cpp) against oneDNN on the Linear
// layers' products: the MLP's three layers and SimpleCNN's first at batch
// 128, the ImageNet classifiers' heads at 16. Forward with bias and ReLU
// fused, weights held (as in an inference pass) or not (as in training),
// and both gradients, through the backend's own calls with our kernel
// turned On and Off. One JSON line per product: best-of-repeats
// microseconds, GFLOP/s, oneDNN's time over ours.
//
//   bench_gemm [--threads 2] [--repeats 30]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_gemm_kernel.h"
#include "core/tensor/random.h"

using namespace perceptra;

namespace {

double seconds(const std::function<void()>& f, int calls) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; ++i) f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / calls;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeats = 30;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc)
      repeats = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_gemm [--threads N] [--repeats N]\n");
      return 2;
    }
  }
  omp_set_num_threads(std::max(1, threads));
  CpuBackend& be = cpu_backend();
  struct Shape {
    const char* layer;
    int N, in, out;
  };
  const Shape shapes[] = {{"mlp fc1", 128, 784, 512},      {"mlp fc2", 128, 512, 256},
                          {"mlp fc3", 128, 256, 10},       {"simplecnn fc1", 128, 3136, 128},
                          {"resnet-18 fc", 16, 512, 1000}, {"mobilenet-v2 fc", 16, 1280, 1000}};
  Rng rng(11);
  for (const Shape& s : shapes) {
    std::vector<float> x(size_t(s.N) * s.in), w(size_t(s.out) * s.in), b(size_t(s.out)), y(size_t(s.N) * s.out),
        dy(size_t(s.N) * s.out), dx(x.size()), dw(w.size());
    for (float& v : x) v = rng.uniform(-1.f, 1.f);
    for (float& v : w) v = rng.uniform(-0.1f, 0.1f);
    for (float& v : b) v = rng.uniform(-1.f, 1.f);
    for (float& v : dy) v = rng.uniform(-1.f, 1.f);
    struct Product {
      const char* name;
      std::function<void()> run;
    };
    const Product products[] = {
        {"forward held",  // the hold lives across the rounds, as through an inference pass
         [&] {
           for (int i = 0; i < 8; ++i)
             be.linear_forward(s.N, s.in, s.out, x.data(), w.data(), b.data(), ConvPost::ReLU, y.data());
         }},
        {"forward",
         [&] {
           for (int i = 0; i < 8; ++i)
             be.linear_forward(s.N, s.in, s.out, x.data(), w.data(), b.data(), ConvPost::ReLU, y.data());
         }},
        {"input gradient",
         [&] {
           for (int i = 0; i < 8; ++i)
             be.gemm(false, false, s.N, s.in, s.out, 1.f, dy.data(), s.out, w.data(), s.in, 0.f, dx.data(), s.in);
         }},
        {"weight gradient", [&] {
           for (int i = 0; i < 8; ++i)
             be.gemm(true, false, s.out, s.in, s.N, 1.f, dy.data(), s.out, x.data(), s.in, 0.f, dw.data(), s.in);
         }}};
    for (const Product& p : products) {
      const bool held = !std::strcmp(p.name, "forward held");
      std::unique_ptr<WeightsHeld> hold(held ? new WeightsHeld : nullptr);
      double best[2] = {1e30, 1e30};  // oneDNN, ours
      for (int r = 0; r < repeats + 1; ++r)
        for (int k = 0; k < 2; ++k) {
          set_cpu_own_gemm(k ? OwnGemmUse::On : OwnGemmUse::Off);
          const double t = seconds(p.run, 1) / 8;
          if (r > 0) best[k] = std::min(best[k], t);  // the first round builds primitives
        }
      const double flops = 2.0 * s.N * s.in * s.out;
      std::printf(
          "{\"layer\":\"%s\",\"product\":\"%s\",\"M_N_K\":\"%d x %d x %d\",\"onednn_us\":%.1f,\"ours_us\":%.1f,"
          "\"onednn_gflops\":%.1f,\"ours_gflops\":%.1f,\"ratio\":%.2f}\n",
          s.layer, p.name, s.N, s.out, s.in, best[0] * 1e6, best[1] * 1e6, flops / best[0] / 1e9, flops / best[1] / 1e9,
          best[0] / best[1]);
    }
  }
  set_cpu_own_gemm(OwnGemmUse::Rule);
  return 0;
}
