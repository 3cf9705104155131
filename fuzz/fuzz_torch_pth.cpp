// A .pth/.pt state dict (zip + restricted pickle + raw storages). Random
// bytes rarely form a zip, so the first byte chooses: even = the input is the
// file as is; odd = the rest is "<data.pkl>\0<storage bytes>", stored in a
// valid zip as archive/data.pkl and archive/data/0 (storage key "0"), so the
// fuzzer reaches the tensor views, dtypes and conversion.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "core/io/import/state_dict.h"
#include "core/tensor/error.h"
#include "fuzz/fuzz_util.h"

namespace {

struct ZipWriter {
  std::string out, central;
  int count = 0;
  template <class T>
  static void put(std::string& s, T v) {
    s.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void add(const std::string& name, const uint8_t* data, size_t size) {
    const uint32_t crc = uint32_t(crc32(0, data, uInt(size)));
    const uint32_t offset = uint32_t(out.size());
    put(out, uint32_t(0x04034b50));
    put(out, uint16_t(20)), put(out, uint16_t(0)), put(out, uint16_t(0));  // version, flags, stored
    put(out, uint32_t(0)), put(out, crc), put(out, uint32_t(size)), put(out, uint32_t(size));
    put(out, uint16_t(name.size())), put(out, uint16_t(0));
    out += name;
    out.append(reinterpret_cast<const char*>(data), size);
    put(central, uint32_t(0x02014b50));
    put(central, uint16_t(20)), put(central, uint16_t(20)), put(central, uint16_t(0)), put(central, uint16_t(0));
    put(central, uint32_t(0)), put(central, crc), put(central, uint32_t(size)), put(central, uint32_t(size));
    put(central, uint16_t(name.size())), put(central, uint16_t(0)), put(central, uint16_t(0));
    put(central, uint16_t(0)), put(central, uint16_t(0)), put(central, uint32_t(0)), put(central, offset);
    central += name;
    ++count;
  }
  std::string finish() {
    const uint32_t at = uint32_t(out.size());
    out += central;
    put(out, uint32_t(0x06054b50));
    put(out, uint16_t(0)), put(out, uint16_t(0)), put(out, uint16_t(count)), put(out, uint16_t(count));
    put(out, uint32_t(central.size())), put(out, at), put(out, uint16_t(0));
    return out;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path;
  if (size > 0 && (data[0] & 1)) {
    ++data, --size;
    const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
    const size_t pkl = nul ? size_t(nul - data) : size;
    ZipWriter z;
    z.add("archive/data.pkl", data, pkl);
    if (nul) z.add("archive/data/0", nul + 1, size - pkl - 1);
    const std::string bytes = z.finish();
    path = perceptra::fuzz::write_scratch("m.pth", reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  } else {
    path = perceptra::fuzz::write_scratch("m.pth", data, size);
  }
  try {
    auto sd = perceptra::import::read_torch_state_dict(path);
    (void)sd;
  } catch (const perceptra::InputError&) {}
  return 0;
}
