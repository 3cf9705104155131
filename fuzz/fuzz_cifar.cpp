// CIFAR-10 binary batches (and gzip, which read_file_bytes detects).
#include <cstdint>

#include "core/data/cifar.h"
#include "core/data/input_limits.h"
#include "core/tensor/error.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  perceptra::data::input_limits().max_inflated_bytes = 64 << 20;
  auto path = perceptra::fuzz::write_scratch("data_batch_1.bin", data, size);
  try {
    perceptra::load_cifar10({path}, {}, "fuzz");
  } catch (const perceptra::InputError&) {}
  return 0;
}
