#pragma once
// Out-of-fold scoring (confident learning's recipe for finding label
// errors): the training images are cut into k folds; for each fold a model
// is trained (config's model, optimizer, epochs) on the other folds and
// scores the fold it never saw. The result is a ledger in which every
// training image is judged by a model that did not learn its label; it is
// recorded as a run of its own (hparams "out_of_fold") so `data suspects`
// ranks it and combines it with the other runs of the dataset.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/train/config.h"

namespace perceptra {

struct OutOfFoldOptions {
  int folds = 5;  // 2..20
  // Called after each fold with (fold done, folds).
  std::function<void(int, int)> progress;
  const std::atomic<bool>* cancel = nullptr;
};

// The fold of each of n samples: a seeded shuffle dealt round-robin, so the
// folds differ in size by at most one.
std::vector<int> assign_folds(int64_t n, int folds, uint64_t seed);

// Trains config.data's k fold models (files in a temporary folder, removed
// after) and writes the out-of-fold ledger to the store at config.db_path
// as a finished run. Returns the run's id. Throws InputError/StoreError.
int64_t score_out_of_fold(const TrainConfig& config, const OutOfFoldOptions& options);

}  // namespace perceptra
