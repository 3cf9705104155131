#include "core/train/evaluate.h"

#include <chrono>

#include "core/backend/backend.h"
#include "core/data/loader.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"

namespace perceptra {

EvalResult evaluate(Model& model, DataLoader& loader, const EvalOptions& options) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  EvalResult r{ClassificationMetrics(model.num_classes(), options.top_k), false, 0, 0};
  SoftmaxCrossEntropy loss;
  loader.start_epoch(0);
  Batch b;
  int64_t n = 0;
  const WeightsHeld held;  // the model is only read here: weights prepared once, not per batch
  while (loader.next(b)) {
    if (options.cancel && options.cancel->load()) {
      r.cancelled = true;
      loader.stop();
      break;
    }
    Tensor x = b.images.to(model.device());
    Tensor y = b.labels.to(model.device());
    // Reading the results back waits for an asynchronous device, so this
    // clock holds the forward passes and nothing of the data loading.
    auto f0 = Clock::now();
    Tensor logits = model.infer(x);
    loss.forward(logits, y);
    auto probs = loss.probs().to_vector();
    auto per = loss.per_sample_loss().to_vector();
    r.forward_seconds += std::chrono::duration<double>(Clock::now() - f0).count();
    auto labels = b.labels.to_vector();
    r.metrics.add(probs.data(), labels.data(), per.data(), static_cast<int>(labels.size()));
    if (options.max_batches > 0 && ++n >= options.max_batches) {
      loader.stop();
      break;
    }
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

EvalResult evaluate(Model& model, std::shared_ptr<const Dataset> data, const std::vector<int64_t>& indices,
                    const NormStats& norm, const EvalOptions& options) {
  LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = false;
  lo.norm = norm;
  DataLoader loader(std::move(data), indices, lo);
  return evaluate(model, loader, options);
}

}  // namespace perceptra
