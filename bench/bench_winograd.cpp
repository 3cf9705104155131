// Our Winograd F(2x2, 3x3) and F(4x4, 3x3) against oneDNN's direct convolution on the 3x3
// stride-1 layers of the built-in models (and ResNet-18's first stage), forward with
// bias and ReLU, through a one-link inference chain: the same NCHW reorders
// on both sides, only the convolution kernel differs. One JSON line per
// shape: best-of-repeats milliseconds, oneDNN's GFLOP/s, and the ratios.
//
//   bench_winograd [--threads 2] [--repeats 12]
//   bench_winograd --train [--batch 128]
// --train times our three training passes (forward with ReLU, input
// gradient, weight and bias gradient) on nChw8c tensors at the training
// batch, as ResNet-small's and SimpleCNN's steps run them.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_winograd.h"
#include "core/tensor/random.h"

using namespace perceptra;

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Best-of-repeats milliseconds of each training pass on one shape.
void time_training_passes(const char* layer, int N, int C, int H, int K, int repeats, int threads, int block) {
  const ConvGeometry g = make_conv_geometry(N, C, H, H, K, 3, 3, 1, 1, 1, 1);
  Rng rng(7);
  std::vector<float> x(size_t(N) * C * H * H), w(size_t(K) * C * 9), b(K + 0ul), y(size_t(N) * K * H * H), dx(x.size()),
      dw(w.size()), db(b.size());
  for (float& v : x) v = rng.uniform(-1.f, 1.f);
  for (float& v : w) v = rng.uniform(-0.1f, 0.1f);
  for (float& v : b) v = rng.uniform(-1.f, 1.f);
  double best[3] = {1e30, 1e30, 1e30};  // forward, input gradient, weight gradient
  for (int r = 0; r < repeats + 1; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    winograd_conv_forward_blocked(g, block, x.data(), w.data(), b.data(), ConvPost::ReLU, nullptr, block, y.data());
    if (r) best[0] = std::min(best[0], ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    winograd_conv_backward_data_blocked(g, block, y.data(), w.data(), block, dx.data());
    if (r) best[1] = std::min(best[1], ms_since(t0));
    t0 = std::chrono::steady_clock::now();
    winograd_conv_backward_weights_blocked(g, block, x.data(), block, y.data(), dw.data(), db.data());
    if (r) best[2] = std::min(best[2], ms_since(t0));
  }
  const double gflop = 2e-9 * N * K * H * H * C * 9;  // a direct convolution's, per pass
  std::printf(
      "{\"layer\":\"%s\",\"N\":%d,\"C\":%d,\"HW\":%d,\"K\":%d,\"threads\":%d,\"forward_ms\":%.4f,"
      "\"backward_data_ms\":%.4f,\"backward_weights_ms\":%.4f,\"direct_equivalent_gflops\":%.1f}\n",
      layer, N, C, H, K, threads, best[0], best[1], best[2], 3 * gflop / (best[0] + best[1] + best[2]) * 1e3);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeats = 12, batch = 128, block = 8;
  bool train = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--repeats") && i + 1 < argc)
      repeats = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc)
      batch = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--block") && i + 1 < argc)
      block = std::atoi(argv[++i]) == 16 ? 16 : 8;
    else if (!std::strcmp(argv[i], "--train"))
      train = true;
    else {
      std::fprintf(stderr, "usage: bench_winograd [--threads N] [--repeats N] [--train [--batch N]]\n");
      return 2;
    }
  }
  omp_set_num_threads(std::max(1, threads));
  if (train) {
    time_training_passes("resnet-small stage 1", batch, 16, 28, 16, repeats, threads, block);
    time_training_passes("resnet-small stage 2", batch, 32, 14, 32, repeats, threads, block);
    time_training_passes("resnet-small stage 3", batch, 64, 7, 64, repeats, threads, block);
    time_training_passes("simplecnn conv2", batch, 32, 14, 64, repeats, threads, block);
    return 0;
  }
  struct Shape {
    const char* layer;
    int N, C, H, K;
  };
  const Shape shapes[] = {
      {"resnet-small stage 1", 32, 16, 28, 16},       {"resnet-small stage 2", 32, 32, 14, 32},
      {"resnet-small stage 3", 32, 64, 7, 64},        {"simplecnn conv2", 64, 32, 14, 64},
      {"resnet-18 stage 1 (56x56)", 8, 64, 56, 64},   {"resnet-18 stage 2 (28x28)", 8, 128, 28, 128},
      {"resnet-18 stage 3 (14x14)", 8, 256, 14, 256}, {"resnet-18 stage 4 (7x7)", 8, 512, 7, 512}};
  const WinogradUse use = cpu_winograd_use();
  Rng rng(7);
  for (const Shape& s : shapes) {
    ConvLink l;
    l.g = make_conv_geometry(s.N, s.C, s.H, s.H, s.K, 3, 3, 1, 1, 1, 1);
    std::vector<float> x(size_t(s.N) * s.C * s.H * s.H), w(size_t(s.K) * s.C * 9), b(size_t(s.K)),
        y(size_t(s.N) * s.K * s.H * s.H);
    for (float& v : x) v = rng.uniform(-1.f, 1.f);
    for (float& v : w) v = rng.uniform(-0.1f, 0.1f);
    for (float& v : b) v = rng.uniform(-1.f, 1.f);
    l.w = w.data();
    l.bias = b.data();
    l.post = ConvPost::ReLU;
    const bool applies = winograd_applies(l.g);
    double best[3] = {1e30, 1e30, 1e30};   // oneDNN, F(2x2, 3x3), F(4x4, 3x3)
    for (int r = 0; r < repeats + 1; ++r)  // alternating; the first round builds primitives
      for (int v = 0; v < 3; ++v) {
        set_cpu_winograd(v > 0);
        set_winograd_tile(v == 1 ? 2 : 4);
        const int reps = 5;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) dnnl_conv_chain_forward(1, &l, x.data(), y.data());
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (r) best[v] = std::min(best[v], ms / reps);
      }
    set_cpu_winograd(use);
    set_winograd_tile(0);
    const double gflop = 2e-9 * s.N * s.K * s.H * s.H * s.C * 9;
    std::printf(
        "{\"layer\":\"%s\",\"N\":%d,\"C\":%d,\"HW\":%d,\"K\":%d,\"threads\":%d,\"winograd_applies\":%s,"
        "\"onednn_ms\":%.4f,\"f2x2_ms\":%.4f,\"f4x4_ms\":%.4f,\"onednn_gflops\":%.1f,"
        "\"onednn_over_f2x2\":%.3f,\"onednn_over_f4x4\":%.3f}\n",
        s.layer, s.N, s.C, s.H, s.K, threads, applies ? "true" : "false", best[0], best[1], best[2],
        gflop / best[0] * 1e3, best[0] / best[1], best[0] / best[2]);
  }
  return 0;
}
