// Cost of one live activation snapshot of SimpleCNN (1x28x28 input, one probe
// image) relative to one training batch (batch 128: forward + backward + SGD
// momentum step), and the overhead implied when a snapshot is taken every K
// batches. The snapshot is what the trainer thread pays (eval forward of
// every layer, host copies); rendering the images is the GUI thread's work
// and is timed separately.
//
// Usage: bench_snapshot [reps=30] [every=50]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/backend/backend.h"
#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/interp/activations.h"
#include "core/interp/saliency.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"

using namespace perceptra;
using Clock = std::chrono::steady_clock;

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

static double minimum(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

template <class F>
static double time_ms(F&& f) {
  auto t0 = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
  perceptra::apply_omp_wait_policy(argv);  // first: may re-execute the program
  const int reps = argc > 1 ? std::max(3, std::atoi(argv[1])) : 30;
  const int every = argc > 2 ? std::max(1, std::atoi(argv[2])) : 50;
  const int batch = 128;

  Rng rng(42);
  auto model = Model::from_spec(Model::builtin_spec("simplecnn", Shape{1, 28, 28}, 10), rng);
  OptimizerConfig cfg;
  cfg.kind = "sgd";
  cfg.lr = 0.01f;
  cfg.momentum = 0.9f;
  auto opt = make_optimizer(cfg, model->parameters());

  std::vector<float> xs(static_cast<size_t>(batch) * 784), ys(batch);
  for (float& v : xs) v = rng.normal();
  for (int i = 0; i < batch; ++i) ys[static_cast<size_t>(i)] = static_cast<float>(i % 10);
  Tensor x = Tensor::from_vector({batch, 1, 28, 28}, xs);
  Tensor y = Tensor::from_vector({batch}, ys);
  Tensor probe = x.slice(0, 1).clone();
  SoftmaxCrossEntropy loss;

  auto train_step = [&] {
    loss.forward(model->forward(x, true), y);
    model->backward(loss.backward(), /*need_input_grad=*/false);
    opt->step();
  };
  ActivationSnapshot snap;
  auto snapshot = [&] { snap = capture_activations(*model, probe); };
  auto render = [&] {
    ActivationImageOptions o;
    o.tiles.colormap = ColorMap::Viridis;
    for (const LayerActivation& a : snap.layers) (void)activation_image(a, 0, o);
  };
  auto gradcam = [&] { (void)grad_cam(*model, probe); };

  for (int i = 0; i < 3; ++i) {  // warm-up: allocator, oneDNN, caches
    train_step();
    snapshot();
    render();
    gradcam();
  }
  // Interleaved so drift (thermal, other processes) hits all alike.
  std::vector<double> t_train, t_snap, t_render, t_cam;
  for (int r = 0; r < reps; ++r) {
    t_train.push_back(time_ms(train_step));
    t_snap.push_back(time_ms(snapshot));
    t_render.push_back(time_ms(render));
    t_cam.push_back(time_ms(gradcam));
  }
  const double tr = median(t_train), sn = median(t_snap), re = median(t_render), ca = median(t_cam);
  std::printf("bench_snapshot: SimpleCNN 1x28x28, %s, %d reps (medians)\n",
              backend_for(Device::cpu()).describe().c_str(), reps);
  std::printf("  training batch (128, fwd+bwd+SGD step)   %8.3f ms\n", tr);
  std::printf("  activation snapshot (1 probe, %zu layers) %8.3f ms  ratio %.4f\n", snap.layers.size(), sn, sn / tr);
  std::printf("  render all layers to images (GUI side)   %8.3f ms\n", re);
  std::printf("  Grad-CAM (1 image)                       %8.3f ms  ratio %.4f\n", ca, ca / tr);
  std::printf("  overhead, snapshot every %d batches:      %.3f %% (target < 5 %%, default refresh < 3 %%)\n", every,
              100.0 * sn / (every * tr));
  std::printf("  overhead, snapshot + render every %d:     %.3f %%\n", every, 100.0 * (sn + re) / (every * tr));
  // Minimums are the least disturbed by other processes on a busy machine.
  std::printf(
      "  minimums: batch %.3f ms, snapshot %.3f ms (ratio %.4f, every %d: %.3f %%), "
      "Grad-CAM %.3f ms\n",
      minimum(t_train), minimum(t_snap), minimum(t_snap) / minimum(t_train), every,
      100.0 * minimum(t_snap) / (every * minimum(t_train)), minimum(t_cam));
  return 0;
}
