// IDX images + labels (plain or gzip): the input is split at its first byte
// (offset of the labels part) into the two files load_idx reads.
#include <cstdint>

#include "core/data/idx.h"
#include "core/data/input_limits.h"
#include "core/tensor/error.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  perceptra::data::input_limits().max_inflated_bytes = 64 << 20;  // fuzzer memory budget
  size_t split = 1 + std::min<size_t>(size - 1, size_t(data[0]) * 4);
  auto images = perceptra::fuzz::write_scratch("images-idx3-ubyte", data + 1, split - 1);
  auto labels = perceptra::fuzz::write_scratch("labels-idx1-ubyte", data + split, size - split);
  try {
    auto ds = perceptra::load_idx(images, labels);
    (void)ds;
  } catch (const perceptra::InputError&) {}
  return 0;
}
