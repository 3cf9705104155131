// ONNX import as `perceptra-cli import` runs it: protobuf parse (Debian's
// libprotobuf, not instrumented), graph -> layer spec, the model built from
// that spec and the initializers copied in.
#include <cstdint>

#include "core/io/import/importer.h"
#include "core/tensor/error.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = perceptra::fuzz::write_scratch("m.onnx", data, size);
  try {
    auto m = perceptra::import_model(path, perceptra::ImportOptions{});
    (void)m;
  } catch (const perceptra::InputError&) {}
  return 0;
}
