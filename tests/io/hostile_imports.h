#pragma once
// Builders of hostile import files for the tests (issue 18): a torch.save
// zip around a hand-written pickle, .safetensors, and ONNX protobuf encoded by
// hand (no Python or ONNX library needed), each small and each declaring far
// more than it holds.
#include <zlib.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace perceptra::hostile {

template <class T>
void put_le(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// A zip of stored (uncompressed) entries, the layout torch.save writes.
inline std::string stored_zip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, central;
  for (const auto& [name, data] : entries) {
    const auto crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size())));
    const auto offset = uint32_t(out.size());
    put_le(out, uint32_t(0x04034b50));
    put_le(out, uint16_t(20)), put_le(out, uint16_t(0)), put_le(out, uint16_t(0));
    put_le(out, uint32_t(0)), put_le(out, crc), put_le(out, uint32_t(data.size())), put_le(out, uint32_t(data.size()));
    put_le(out, uint16_t(name.size())), put_le(out, uint16_t(0));
    out += name + data;
    put_le(central, uint32_t(0x02014b50));
    put_le(central, uint16_t(20)), put_le(central, uint16_t(20)), put_le(central, uint16_t(0));
    put_le(central, uint16_t(0)), put_le(central, uint32_t(0)), put_le(central, crc);
    put_le(central, uint32_t(data.size())), put_le(central, uint32_t(data.size()));
    put_le(central, uint16_t(name.size())), put_le(central, uint16_t(0)), put_le(central, uint16_t(0));
    put_le(central, uint16_t(0)), put_le(central, uint16_t(0)), put_le(central, uint32_t(0)), put_le(central, offset);
    central += name;
  }
  const auto at = uint32_t(out.size());
  out += central;
  put_le(out, uint32_t(0x06054b50));
  put_le(out, uint16_t(0)), put_le(out, uint16_t(0));
  put_le(out, uint16_t(entries.size())), put_le(out, uint16_t(entries.size()));
  put_le(out, uint32_t(central.size())), put_le(out, at), put_le(out, uint16_t(0));
  return out;
}

// Pickle (protocol 2) of {"fc.weight": tensor} as torch.save writes it: a
// _rebuild_tensor_v2 view (sizes, strides) of FloatStorage "0" declaring
// `storage_numel` elements.
inline std::string state_dict_pickle(int32_t storage_numel, const std::vector<int32_t>& sizes,
                                     const std::vector<int32_t>& strides) {
  auto str = [](const std::string& v) {
    std::string s = "X";
    put_le(s, uint32_t(v.size()));
    return s + v;
  };
  auto int32 = [](int32_t v) {
    std::string s = "J";
    put_le(s, v);
    return s;
  };
  auto tuple = [&](const std::vector<int32_t>& v) {
    std::string s = "(";
    for (int32_t x : v) s += int32(x);
    return s + "t";
  };
  return std::string("\x80\x02}(") + str("fc.weight") + "ctorch._utils\n_rebuild_tensor_v2\n(" + "(" + str("storage") +
         "ctorch\nFloatStorage\n" + str("0") + str("cpu") + int32(storage_numel) + "tQ" + std::string("K\x00", 2) +
         tuple(sizes) + tuple(strides) + "\x89tRu.";
}

inline std::string torch_file(const std::string& pickle, const std::string& storage) {
  return stored_zip({{"archive/data.pkl", pickle}, {"archive/data/0", storage}});
}

inline std::string safetensors_file(const std::string& header, const std::string& data) {
  std::string s;
  put_le(s, uint64_t(header.size()));
  return s + header + data;
}

// Protocol-buffer wire format, enough for an ONNX ModelProto.
namespace pb {
inline std::string varint(uint64_t v) {
  std::string s;
  do {
    s += char((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
    v >>= 7;
  } while (v);
  return s;
}
inline std::string num(int field, uint64_t v) { return varint(uint64_t(field) << 3) + varint(v); }
inline std::string bytes(int field, const std::string& v) {
  return varint(uint64_t(field) << 3 | 2) + varint(v.size()) + v;
}
}  // namespace pb

// An ONNX model y = Gemm(Flatten(x), W) with x [1, in, 1, 1] and one
// initializer W of element type `w_type` (1 float, 2 uint8, ...) with dims
// `w_dims` and `w_raw` as its raw_data.
inline std::string onnx_gemm(int64_t in, const std::vector<int64_t>& w_dims, int w_type, const std::string& w_raw) {
  using namespace pb;
  std::string w;
  for (int64_t d : w_dims) w += num(1, uint64_t(d));
  w += num(2, uint64_t(w_type)) + bytes(8, "W") + bytes(9, w_raw);
  auto value_info = [](const std::string& name, std::vector<int64_t> dims) {
    std::string shape;
    for (int64_t d : dims) shape += bytes(1, num(1, uint64_t(d)));
    return bytes(1, name) + bytes(2, bytes(1, num(1, 1) + bytes(2, shape)));
  };
  const std::string flatten = bytes(1, "x") + bytes(2, "f") + bytes(3, "flat") + bytes(4, "Flatten");
  const std::string node = bytes(1, "f") + bytes(1, "W") + bytes(2, "y") + bytes(3, "fc") + bytes(4, "Gemm");
  const std::string graph = bytes(1, flatten) + bytes(1, node) + bytes(2, "g") + bytes(5, w) +
                            bytes(11, value_info("x", {1, in, 1, 1})) +
                            bytes(12, value_info("y", {1, w_dims.size() == 2 ? w_dims[1] : 1}));
  return num(1, 7) + bytes(7, graph) + bytes(8, num(2, 13));
}

}  // namespace perceptra::hostile
