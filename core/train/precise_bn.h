#pragma once
// Precise BatchNorm (Wu & Johnson, "Rethinking Batch in BatchNorm", 2021):
// the running statistics a BatchNorm keeps during training are an
// exponential average (momentum 0.1) of batches seen under older weights,
// so they lag the weights a short run ends with. Evaluation and export use
// those statistics; a 2-epoch ResNet-small on Fashion-MNIST validated 5
// points low because of it (bench/README.md, int8 section). Before each
// validation the trainer re-estimates them: forward passes in training mode
// over a fixed subset of the training images (augmented as in training),
// averaging every batch's statistics equally. Weights do not change;
// dropout masks are put back, so training continues exactly as it would
// have.
#include <atomic>
#include <cstdint>

#include "core/data/loader.h"
#include "core/nn/model.h"

namespace perceptra {

struct PreciseBnOptions {
  int64_t max_images = 2048;  // also at most a quarter of the training set (at least one batch)
  int64_t batch_size = 128;
  uint64_t seed = 0;  // which images: a seeded draw, the same every epoch
  int64_t epoch = 0;  // augmentation draws of this epoch
  AugmentOptions augment;
  NormStats norm;
};

// Whether `model` has a BatchNorm layer (otherwise there is nothing to do).
bool has_batchnorm(Model& model);

// The training images precise BN uses: positions into `train_indices`'
// values, at most options.max_images of them, a seeded draw.
std::vector<int64_t> precise_bn_subset(const std::vector<int64_t>& train_indices, const PreciseBnOptions& options);

// Re-estimates every BatchNorm's running statistics on `subset` of `data`
// (see above). Returns the images used (0 when cancelled before the end:
// the statistics are then partly re-estimated, still a valid average).
int64_t reestimate_batchnorm(Model& model, std::shared_ptr<const Dataset> data, std::vector<int64_t> subset,
                             const PreciseBnOptions& options, const std::atomic<bool>* cancel = nullptr);

}  // namespace perceptra
