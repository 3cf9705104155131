#pragma once
// Progress numbers that are never a lie, shared by the CLI and the studio:
// a speed that reads "0 images/s" becomes seconds per batch, and the ETA
// comes from the rate measured in this session over what is left (a resumed
// run's earlier epochs are neither "done fast" nor left).
#include <cstdint>
#include <string>

namespace perceptra {

// "512 images/s", "3.4 images/s", "0.31 images/s · 52 s per batch"
// (under one image per second, with the batch time); "" for <= 0.
std::string speed_text(double images_per_s, int64_t batch_size);

// Seconds left: `batches_left` at the rate of the `batches_done` this
// session took `elapsed_s` for. Negative (unknown) before a rate exists.
double eta_seconds(int64_t batches_done, double elapsed_s, int64_t batches_left);

// Batches left in a run of `epochs` epochs of `batches_per_epoch`, after
// batch `batch` (0-based) of epoch `epoch` has finished.
int64_t batches_left(int epoch, int epochs, int64_t batch, int64_t batches_per_epoch);

}  // namespace perceptra
