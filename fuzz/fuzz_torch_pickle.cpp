// torch.save's data.pkl through the restricted unpickler alone (no zip, no
// storages): opcodes, stack/memo/depth bounds, the global allow-list and the
// _rebuild_tensor_v2 argument checks.
#include <cstdint>
#include <string_view>

#include "core/io/import/pickle_vm.h"
#include "core/tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto v = perceptra::import::unpickle_torch(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)v;
  } catch (const perceptra::InputError&) {}
  return 0;
}
