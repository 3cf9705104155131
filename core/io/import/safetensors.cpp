// .safetensors: u64 little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the data area the offsets index. Every offset
// and size is checked before anything is read.
#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "core/io/import/element_types.h"
#include "core/io/import/source_bytes.h"
#include "core/io/import/state_dict.h"

namespace perceptra::import {

namespace {

constexpr uint64_t kMaxHeader = 100 << 20;
constexpr int kMaxJsonDepth = 8;

// nlohmann's parser recurses per nesting level: refuse deep headers first.
void check_depth(std::string_view json, const std::string& path) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : json) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth)
        throw InputError(path, "safetensors header nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}

ElementType dtype_of(const std::string& d, const std::string& where) {
  static const std::map<std::string, ElementType> types = {
      {"F32", ElementType::F32}, {"F64", ElementType::F64},  {"F16", ElementType::F16}, {"BF16", ElementType::BF16},
      {"I64", ElementType::I64}, {"I32", ElementType::I32},  {"I16", ElementType::I16}, {"I8", ElementType::I8},
      {"U8", ElementType::U8},   {"BOOL", ElementType::Bool}};
  auto it = types.find(d);
  if (it == types.end()) throw InputError(where, "has dtype '" + d + "', which is not supported");
  return it->second;
}

}  // namespace

StateDict read_safetensors(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  ByteReader r(bytes, path);
  if (bytes.size() < 8) r.fail_at("is too short for a safetensors file (truncated?)");
  const uint64_t n = r.le<uint64_t>();
  if (n > kMaxHeader || n > r.left())
    r.fail_at("declares a " + std::to_string(n) + "-byte header but the file has " + std::to_string(r.left()) +
              " bytes after the length (truncated or not safetensors)");
  std::string_view header = r.take(n);
  const uint64_t data_start = r.pos(), data_size = bytes.size() - data_start;
  check_depth(header, path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, std::string("safetensors header is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw InputError(path, "safetensors header is not a JSON object");
  struct Item {
    std::string name;
    uint64_t begin;
  };
  std::vector<Item> order;
  for (auto& [name, v] : j.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    if (!v.is_object() || !v.contains("data_offsets") || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2 || !v["data_offsets"][0].is_number_unsigned() ||
        !v["data_offsets"][1].is_number_unsigned())
      throw InputError(where, "has no valid 'data_offsets' [begin, end]");
    order.push_back({name, v["data_offsets"][0].get<uint64_t>()});
  }
  // File order (the writer's), which weight mapping follows.
  std::stable_sort(order.begin(), order.end(), [](const Item& a, const Item& b) { return a.begin < b.begin; });
  StateDict out;
  for (const auto& item : order) {
    const auto& v = j[item.name];
    const std::string where = path + ": tensor '" + item.name + "'";
    if (!v.contains("dtype") || !v["dtype"].is_string()) throw InputError(where, "has no 'dtype'");
    const ElementType type = dtype_of(v["dtype"].get<std::string>(), where);
    if (!v.contains("shape") || !v["shape"].is_array() || v["shape"].size() > 8)
      throw InputError(where, "has no valid 'shape'");
    NamedTensor t;
    t.name = item.name;
    t.floating = is_floating(type);
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw InputError(where, "has a shape entry that is not a count");
      const uint64_t dim = d.get<uint64_t>();
      if (!mul_ok(numel, dim, numel) || numel > (uint64_t(1) << 32)) throw InputError(where, "has an impossible shape");
      t.shape.push_back(int64_t(dim));
    }
    const uint64_t begin = v["data_offsets"][0].get<uint64_t>(), end = v["data_offsets"][1].get<uint64_t>();
    uint64_t want = 0;
    if (!mul_ok(numel, uint64_t(element_size(type)), want)) throw InputError(where, "has an impossible shape");
    if (end < begin || end > data_size)
      throw InputError(where, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                  "] lie outside the " + std::to_string(data_size) + "-byte data area (truncated?)");
    if (end - begin != want)
      throw InputError(where, "holds " + std::to_string(end - begin) + " bytes but " + shape_str(t.shape) + " of " +
                                  v["dtype"].get<std::string>() + " needs " + std::to_string(want));
    convert_contiguous(type, std::string_view(bytes).substr(size_t(data_start + begin), size_t(want)), numel, t.values);
    out.push_back(std::move(t));
  }
  if (out.empty()) throw InputError(path, "holds no tensors");
  return out;
}

}  // namespace perceptra::import
