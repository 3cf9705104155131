// Model files and checkpoints. Random bytes almost never pass the CRC, so
// the first byte chooses: even = the input is the file as is; odd = the
// input is "<kind byte><header JSON>\0<payload>" and the container (lengths,
// CRC) is built around it, so the fuzzer reaches header and tensor
// validation, the spec build and the weight copy.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "core/io/checkpoint.h"
#include "core/io/model_file.h"
#include "core/tensor/error.h"
#include "fuzz/fuzz_util.h"

namespace {
std::string wrap(const uint8_t* data, size_t size) {
  const uint32_t kind = (size > 0 && (data[0] & 2)) ? 2 : 1;
  if (size) ++data, --size;
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  size_t h = nul ? size_t(nul - data) : size;
  size_t p = nul ? size - h - 1 : 0;
  p -= p % 4;
  std::string out("PRCPTRA\0", 8);
  auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(uint32_t(1));
  put(kind);
  put(uint64_t(h));
  put(uint64_t(p));
  out.append(reinterpret_cast<const char*>(data), h);
  if (p) out.append(reinterpret_cast<const char*>(nul + 1), p);
  put(uint32_t(crc32(0, reinterpret_cast<const Bytef*>(out.data()), uInt(out.size()))));
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path;
  if (size > 0 && (data[0] & 1)) {
    std::string bytes = wrap(data + 1, size - 1);
    path = perceptra::fuzz::write_scratch("m.pmodel", reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  } else {
    path = perceptra::fuzz::write_scratch("m.pmodel", data, size);
  }
  try {
    auto info = perceptra::inspect_model_file(path);
    (void)info;
  } catch (const perceptra::InputError&) {}
  try {
    auto lm = perceptra::load_model(path);
    (void)lm;
  } catch (const perceptra::InputError&) {}
  try {
    auto ck = perceptra::load_checkpoint(path);
    auto model = perceptra::build_model(ck);
    (void)model;
  } catch (const perceptra::InputError&) {}
  return 0;
}
