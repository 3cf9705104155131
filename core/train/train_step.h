#pragma once
// The training step, one for fitting and the LR range test: a batch to the
// device, forward, loss, backward, (gradient hook), optimizer step, and the
// smoothed throughput. A non-finite loss skips backward and the update (the
// caller decides what divergence means). An empty batch (a data-parallel
// rank's empty shard) runs no forward.
#include <chrono>
#include <cstdint>
#include <functional>

#include "core/nn/loss.h"
#include "core/tensor/device.h"

namespace perceptra {

class Model;
class Optimizer;
struct Batch;

struct StepResult {
  double loss = 0;
  int64_t samples = 0;
  int64_t correct = 0;      // when counted (fitting), else 0
  double seconds = 0;       // since the previous step ended (data wait included)
  double images_per_s = 0;  // exponentially smoothed over the steps since restart()
};

class TrainStep {
 public:
  // Between backward and the optimizer update, when set: sees this step's
  // result and gradients and may replace both (data-parallel: the global
  // batch's loss and mean gradients). It runs for every batch, also when
  // this batch's loss is not finite (`has_gradients` false), so processes
  // that exchange gradients stay in step; the update happens when the loss
  // it leaves is finite.
  using GradientHook = std::function<void(Model&, StepResult&, bool has_gradients)>;

  TrainStep(Model& model, Optimizer& optimizer, Device device, float label_smoothing);

  // Restarts the step clock and the smoothed throughput (an epoch begins).
  void restart();
  void set_gradient_hook(GradientHook hook) { hook_ = std::move(hook); }
  StepResult operator()(const Batch& batch, bool count_correct);

 private:
  Model& model_;
  Optimizer& opt_;
  Device device_;
  SoftmaxCrossEntropy loss_;
  GradientHook hook_;
  std::chrono::steady_clock::time_point last_;
  double ema_rate_ = 0;
};

}  // namespace perceptra
