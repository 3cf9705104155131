#include "core/train/progress_text.h"

#include <cmath>
#include <cstdio>

namespace perceptra {

std::string speed_text(double images_per_s, int64_t batch_size) {
  if (!(images_per_s > 0) || !std::isfinite(images_per_s)) return "";
  char buf[96];
  if (images_per_s >= 9.95) {
    std::snprintf(buf, sizeof buf, "%.0f images/s", images_per_s);
  } else if (images_per_s >= 0.995) {
    std::snprintf(buf, sizeof buf, "%.1f images/s", images_per_s);
  } else {
    const double per_batch = double(batch_size > 0 ? batch_size : 1) / images_per_s;
    std::snprintf(buf, sizeof buf, "%.2g images/s · %.0f s per batch", images_per_s, per_batch);
  }
  return buf;
}

double eta_seconds(int64_t batches_done, double elapsed_s, int64_t batches_left) {
  if (batches_done <= 0 || !(elapsed_s > 0)) return -1;
  if (batches_left <= 0) return 0;
  return elapsed_s / double(batches_done) * double(batches_left);
}

int64_t batches_left(int epoch, int epochs, int64_t batch, int64_t batches_per_epoch) {
  const int64_t left = (batches_per_epoch - batch - 1) + int64_t(epochs - epoch - 1) * batches_per_epoch;
  return left > 0 ? left : 0;
}

}  // namespace perceptra
