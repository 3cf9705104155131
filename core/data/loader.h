#pragma once
// DataLoader: per-epoch shuffle (seeded by epoch), batching into Tensors,
// augmentation, and prefetching on worker threads through a bounded queue.
// In-memory 8-bit data is converted and normalised once into a float cache
// when it fits the budget, so a batch is a gather (+ augmentation) from
// memory. Data decoded on demand (image folders: JPEG decoding + resizing)
// is prepared by several workers, each building whole batches; batches are
// handed out in order and are identical whatever the number of workers
// (augmentation draws from a per-sample stream). A batch that is only a
// gather from the float cache is built on the caller's thread: a worker
// would take a core from the step's threads for a copy of microseconds.
//
//   DataLoader loader(tv.train_data, tv.train_indices, opts);
//   for (int64_t e = 0; e < epochs; ++e) {
//     loader.start_epoch(e);
//     Batch b;
//     while (loader.next(b)) { ... b.images [N,C,H,W], b.labels [N] ... }
//   }
//
// Errors raised while reading (e.g. an image that cannot be decoded, naming
// the file) are rethrown by next() on the consumer's thread. The destructor
// and stop() end the worker promptly, also mid-epoch.
#include <cstdint>
#include <memory>
#include <vector>

#include "core/data/augment.h"
#include "core/data/dataset.h"
#include "core/data/normalize.h"
#include "core/tensor/tensor.h"

namespace perceptra {

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  uint64_t seed = 0;
  // Batches prepared ahead on the workers; 0 = no thread (built in next()).
  // -1 = auto: 0 when a batch is only a gather from the float cache
  // (in-memory data that fits it, no augmentation), else 4.
  int prefetch = -1;
  // Worker threads; 0 = auto: default_decode_threads() for data decoded on
  // demand, 1 for in-memory data (a gather from the float cache).
  int workers = 0;
  AugmentOptions augment;                         // training only: leave off for validation/test
  NormStats norm;                                 // empty = values stay in [0,1]
  int64_t cache_budget_bytes = int64_t(1) << 30;  // float cache when it fits
};

struct Batch {
  Tensor images;                 // [N,C,H,W], CPU, normalised
  Tensor labels;                 // [N] class indices as floats
  std::vector<int64_t> indices;  // index in the dataset of each sample
  int64_t epoch = 0;
  int64_t batch = 0;  // position within the epoch
};

class DataLoader {
 public:
  // `indices` selects the samples (empty = all of `data`).
  DataLoader(std::shared_ptr<const Dataset> data, std::vector<int64_t> indices, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t size() const;         // samples per epoch
  int64_t num_batches() const;  // batches per epoch
  const LoaderOptions& options() const;
  const Dataset& dataset() const;

  // Starts (or restarts) an epoch; cancels an unfinished one.
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch; false when the epoch is done.
  // Starts epoch 0 when no epoch was started. Rethrows worker errors.
  bool next(Batch& out);
  // Stops the worker; next() returns false until start_epoch().
  void stop();

  // Sample positions (into `indices`) in the order epoch `epoch` visits them.
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  // Whether the normalised float cache is in use (after the first epoch starts).
  bool cached() const;
  // Worker threads preparing batches (1 when prefetch is 0: the caller's).
  int workers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace perceptra
