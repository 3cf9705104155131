#include "core/train/train_step.h"

#include <cmath>

#include "core/data/loader.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/train/metrics.h"

namespace perceptra {

TrainStep::TrainStep(Model& model, Optimizer& optimizer, Device device, float label_smoothing)
    : model_(model), opt_(optimizer), device_(device), loss_(label_smoothing) {
  restart();
}

void TrainStep::restart() {
  last_ = std::chrono::steady_clock::now();
  ema_rate_ = 0;
}

StepResult TrainStep::operator()(const Batch& b, bool count_correct) {
  StepResult r;
  r.samples = b.labels.numel();
  bool has_gradients = false;
  if (r.samples > 0) {
    Tensor x = b.images.to(device_), y = b.labels.to(device_);
    r.loss = loss_.forward(model_.forward(x, true), y);
    if (!std::isfinite(r.loss) && hook_) {
      // Data-parallel: the backward runs anyway (its gradients are not
      // used), so collective calls inside the model (synchronised
      // BatchNorm) stay matched with the ranks whose loss is finite.
      model_.backward(loss_.backward(), /*need_input_grad=*/false);
    } else if (std::isfinite(r.loss)) {
      model_.backward(loss_.backward(), /*need_input_grad=*/false);
      has_gradients = true;
      if (count_correct) {
        auto probs = loss_.probs().to_vector();
        auto labels = b.labels.to_vector();
        const int C = model_.num_classes();
        for (int64_t i = 0; i < r.samples; ++i)
          r.correct += argmax(probs.data() + static_cast<size_t>(i) * C, C) ==
                       static_cast<int>(std::lround(labels[static_cast<size_t>(i)]));
      }
    }
  }
  if (hook_) {
    hook_(model_, r, has_gradients);
    if (std::isfinite(r.loss) && r.samples > 0) opt_.step();  // gradients are the hook's now
  } else if (has_gradients) {
    opt_.step();
  }
  auto now = std::chrono::steady_clock::now();
  r.seconds = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  double rate = r.seconds > 0 ? r.samples / r.seconds : 0;
  ema_rate_ = ema_rate_ == 0 ? rate : 0.9 * ema_rate_ + 0.1 * rate;
  r.images_per_s = ema_rate_;
  return r;
}

}  // namespace perceptra
