#include "core/io/tensor_file.h"

#include <zlib.h>

#include <bit>
#include <cstring>
#include <fstream>

#include "core/io/atomic_file.h"
#include "core/tensor/bounded_json.h"
#include "core/tensor/error.h"
#include "core/tensor/input_file.h"

static_assert(std::endian::native == std::endian::little,
              "model files store little-endian values; add byte swapping for this target");

namespace perceptra::tensor_file {
namespace {

class Crc {
 public:
  void update(const void* p, size_t n) {
    auto b = static_cast<const Bytef*>(p);
    while (n > 0) {  // zlib takes uInt lengths
      uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      crc_ = crc32(crc_, b, chunk);
      b += chunk;
      n -= chunk;
    }
  }
  uint32_t value() const { return static_cast<uint32_t>(crc_); }

 private:
  uLong crc_ = crc32(0L, Z_NULL, 0);
};

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

}  // namespace

std::string kind_name(Kind k) { return k == Kind::Model ? "model" : k == Kind::Checkpoint ? "checkpoint" : "unknown"; }

void write(const std::string& path, Kind kind, nlohmann::json header, const std::vector<TensorRef>& tensors) {
  nlohmann::json index = nlohmann::json::array();
  uint64_t payload = 0;
  for (const auto& t : tensors) {
    if (t.int8_shape.rank() > 0) {
      PCHECK(int64_t(t.int8_values.size()) == t.int8_shape.numel(),
             "model file: int8 tensor '" + t.name + "' size does not match its shape");
      index.push_back({{"name", t.name}, {"section", t.section}, {"shape", t.int8_shape.dims()}, {"dtype", "int8"}});
      payload += t.int8_values.size();
      continue;
    }
    PCHECK(t.tensor.defined(), "model file: tensor '" + t.name + "' is undefined");
    index.push_back({{"name", t.name}, {"section", t.section}, {"shape", t.tensor.shape().dims()}});
    payload += uint64_t(t.tensor.numel()) * sizeof(float);
  }
  header["tensors"] = std::move(index);
  const std::string json = dump_json_safe(header);  // class names may not be UTF-8

  std::string fixed(kMagic, sizeof kMagic);
  put<uint32_t>(fixed, kVersion);
  put<uint32_t>(fixed, static_cast<uint32_t>(kind));
  put<uint64_t>(fixed, json.size());
  put<uint64_t>(fixed, payload);

  Crc crc;
  write_file_atomically(path, [&](AtomicFile& f) {
    f.write(fixed);
    crc.update(fixed.data(), fixed.size());
    f.write(json);
    crc.update(json.data(), json.size());
    for (const auto& t : tensors) {
      if (t.int8_shape.rank() > 0) {
        f.write(t.int8_values.data(), t.int8_values.size());
        crc.update(t.int8_values.data(), t.int8_values.size());
        continue;
      }
      std::vector<float> v = t.tensor.to_vector();  // host copy on any device
      f.write(v.data(), v.size() * sizeof(float));
      crc.update(v.data(), v.size() * sizeof(float));
    }
    std::string tail;
    put<uint32_t>(tail, crc.value());
    f.write(tail);
  });
}

Contents read(const std::string& path) {
  static_assert(kMaxRank >= 4);
  // Regular files only (a FIFO would block); the whole file is read once.
  const std::string bytes = read_regular_file(path, kMaxFileBytes, "model file");
  const uint64_t size = bytes.size();

  if (size < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw InputError(path, "not a Perceptra model or checkpoint file (bad magic number)");
  if (size < kFixedHeader + 4)
    throw InputError(path, "file is truncated (" + std::to_string(size) + " bytes, shorter than the fixed header)");
  Contents c;
  c.file_size = size;
  c.version = get<uint32_t>(bytes.data() + 8);
  if (c.version != kVersion)
    throw InputError(path, "format version " + std::to_string(c.version) +
                               " is not supported (this build reads version " + std::to_string(kVersion) + ")");
  uint32_t kind = get<uint32_t>(bytes.data() + 12);
  if (kind != uint32_t(Kind::Model) && kind != uint32_t(Kind::Checkpoint))
    throw InputError(path, "unknown file kind " + std::to_string(kind));
  c.kind = Kind(kind);
  const uint64_t h = get<uint64_t>(bytes.data() + 16), p = get<uint64_t>(bytes.data() + 24);
  // Compare without overflow: lengths come from the (untrusted) file.
  if (h > size || p > size || kFixedHeader + h + p + 4 > size) {
    if (h > size || p > size) throw InputError(path, "file is truncated or corrupt (declared lengths exceed the file)");
    throw InputError(path, "file is truncated (" + std::to_string(size) + " bytes, expected " +
                               std::to_string(kFixedHeader + h + p + 4) + ")");
  }
  if (kFixedHeader + h + p + 4 < size)
    throw InputError(path, "file has " + std::to_string(size - (kFixedHeader + h + p + 4)) +
                               " unexpected trailing bytes (corrupt or concatenated)");
  Crc crc;
  crc.update(bytes.data(), kFixedHeader + h + p);
  const uint32_t stored = get<uint32_t>(bytes.data() + kFixedHeader + h + p);
  if (crc.value() != stored) throw InputError(path, "checksum mismatch: the file is corrupt or was modified");

  auto header = try_parse_json_bounded(std::string_view(bytes).substr(kFixedHeader, h));
  if (!header || !header->is_object())
    throw InputError(path,
                     json_nesting_depth(std::string_view(bytes).substr(kFixedHeader, h), kMaxJsonDepth) > kMaxJsonDepth
                         ? "header JSON is nested more than " + std::to_string(kMaxJsonDepth) + " levels deep"
                         : "header is not a JSON object");
  c.header = std::move(*header);
  if (!c.header.contains("tensors") || !c.header["tensors"].is_array())
    throw InputError(path, "header has no 'tensors' list");

  uint64_t offset = kFixedHeader + h;
  const uint64_t end = offset + p;
  for (const auto& e : c.header["tensors"]) {
    StoredTensor t;
    try {
      t.name = e.at("name").get<std::string>();
      t.section = e.at("section").get<std::string>();
      std::vector<int64_t> dims = e.at("shape").get<std::vector<int64_t>>();
      if (dims.size() > kMaxRank)
        throw InputError(path, "tensor '" + t.name + "' has " + std::to_string(dims.size()) + " dimensions (at most " +
                                   std::to_string(kMaxRank) + ")");
      const std::string dtype = e.value("dtype", std::string("float32"));
      if (dtype != "float32" && dtype != "int8")
        throw InputError(path, "tensor '" + t.name + "' has unknown dtype '" + dtype + "'");
      t.is_int8 = dtype == "int8";
      const uint64_t elem_bytes = t.is_int8 ? 1 : sizeof(float);
      // Element count checked against the bytes left, one factor at a time,
      // so a hostile shape can neither overflow nor ask for more than the file holds.
      uint64_t elems = 1;
      for (int64_t d : dims) {
        if (d < 0) throw InputError(path, "tensor '" + t.name + "' has a negative dimension");
        if (d != 0 && elems > (end - offset) / elem_bytes / uint64_t(d))
          throw InputError(path, "tensor '" + t.name + "' extends past the payload");
        elems *= uint64_t(d);
      }
      t.shape = Shape(dims);
    } catch (const nlohmann::json::exception& ex) {
      throw InputError(path, std::string("bad tensor entry in header: ") + ex.what());
    }
    const uint64_t n = uint64_t(t.shape.numel()) * (t.is_int8 ? 1 : sizeof(float));
    if (n > end - offset) throw InputError(path, "tensor '" + t.name + "' extends past the payload");
    // An empty tensor's vector has no storage (data() may be null, and
    // memcpy from or to null is undefined even for 0 bytes).
    if (t.is_int8) {
      t.int8_values.resize(size_t(t.shape.numel()));
      if (n) std::memcpy(t.int8_values.data(), bytes.data() + offset, n);
    } else {
      t.values.resize(size_t(t.shape.numel()));
      if (n) std::memcpy(t.values.data(), bytes.data() + offset, n);
    }
    offset += n;
    c.tensors.push_back(std::move(t));
  }
  if (offset != end)
    throw InputError(path, "payload holds " + std::to_string(end - offset) + " bytes not described by the header");
  return c;
}

}  // namespace perceptra::tensor_file
