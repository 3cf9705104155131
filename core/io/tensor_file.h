#pragma once
// Internal: the container shared by model files and checkpoints.
//
// Layout (version 1; integers and floats little-endian):
//   0   char[8]  magic "PRCPTRA\0"
//   8   u32      format version
//   12  u32      kind (1 = model, 2 = checkpoint)
//   16  u64      H: header length in bytes
//   24  u64      P: payload length in bytes
//   32  H bytes  header: UTF-8 JSON; "tensors" lists {name, section, shape}
//                in payload order
//   32+H P bytes payload: the tensors' values back to back: float32, or one
//                byte each for entries with "dtype": "int8" (quantised weights)
//   32+H+P u32   CRC-32 (zlib polynomial) of every byte before it
// CRC-32 catches truncation, bit rot and edits; it is not a signature.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor/tensor.h"

namespace perceptra::tensor_file {

inline constexpr char kMagic[8] = {'P', 'R', 'C', 'P', 'T', 'R', 'A', '\0'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kFixedHeader = 32;
// Reading limits: files are read whole, so a bound on their size; tensors
// have at most this many dimensions.
inline constexpr uint64_t kMaxFileBytes = uint64_t(64) << 30;
inline constexpr size_t kMaxRank = 8;

enum class Kind : uint32_t { Model = 1, Checkpoint = 2 };
std::string kind_name(Kind k);

struct TensorRef {
  TensorRef(std::string n, std::string s, Tensor t) : name(std::move(n)), section(std::move(s)), tensor(std::move(t)) {}
  // An int8 entry (quantised weights) instead of a float tensor.
  static TensorRef int8(std::string n, std::string s, Shape shape, std::vector<int8_t> values) {
    TensorRef r(std::move(n), std::move(s), Tensor());
    r.int8_shape = std::move(shape);
    r.int8_values = std::move(values);
    return r;
  }
  std::string name, section;  // section: "weights", "optimizer"
  Tensor tensor;              // any device
  Shape int8_shape;           // rank > 0: an int8 entry
  std::vector<int8_t> int8_values;
};

struct StoredTensor {
  std::string name, section;
  Shape shape;
  bool is_int8 = false;       // header "dtype": "int8"
  std::vector<float> values;  // float32 entries
  std::vector<int8_t> int8_values;
};

struct Contents {
  Kind kind = Kind::Model;
  uint32_t version = 0;
  nlohmann::json header;
  std::vector<StoredTensor> tensors;
  uint64_t file_size = 0;
};

// Atomic write (see atomic_file.h). `header` gains the "tensors" index.
void write(const std::string& path, Kind kind, nlohmann::json header, const std::vector<TensorRef>& tensors);
// Validates magic, version, sizes and checksum; throws InputError(path, ...).
Contents read(const std::string& path);

}  // namespace perceptra::tensor_file
