// .safetensors: 8-byte header length, bounded JSON header, offsets and
// dtypes checked against the data before conversion.
#include <cstdint>

#include "core/io/import/state_dict.h"
#include "core/tensor/error.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = perceptra::fuzz::write_scratch("m.safetensors", data, size);
  try {
    auto sd = perceptra::import::read_safetensors(path);
    (void)sd;
  } catch (const perceptra::InputError&) {}
  return 0;
}
