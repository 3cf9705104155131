#pragma once
// Eval-mode pass over a dataset: loss (plain cross-entropy), accuracy,
// top-k, confusion matrix, per-class precision/recall/F1. Used by the
// trainer's validation, `perceptra-cli eval` and the GUI.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/normalize.h"
#include "core/train/metrics.h"

namespace perceptra {

class Model;
class DataLoader;

struct EvalOptions {
  int batch_size = 256;
  int top_k = 5;
  int64_t max_batches = 0;                    // 0 = all
  const std::atomic<bool>* cancel = nullptr;  // checked between batches
};

struct EvalResult {
  ClassificationMetrics metrics;
  bool cancelled = false;
  double seconds = 0;          // the whole pass, data loading included
  double forward_seconds = 0;  // model forward + loss + read-back only
};

// Runs over a loader's epoch 0 (the loader should not shuffle/augment).
EvalResult evaluate(Model& model, DataLoader& loader, const EvalOptions& options);
// Convenience: builds the loader (samples `indices`, all when empty).
EvalResult evaluate(Model& model, std::shared_ptr<const Dataset> data, const std::vector<int64_t>& indices,
                    const NormStats& norm, const EvalOptions& options);

}  // namespace perceptra
