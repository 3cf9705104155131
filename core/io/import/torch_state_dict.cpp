// torch.save's zip layout: <prefix>/data.pkl (the pickled dict, tensors as
// persistent storage references) and <prefix>/data/<key> (each storage's raw
// little-endian bytes). Read with the restricted unpickler; every view is
// checked against its storage before a byte is converted.
#include <map>

#include "core/io/import/element_types.h"
#include "core/io/import/pickle_vm.h"
#include "core/io/import/source_bytes.h"
#include "core/io/import/state_dict.h"
#include "core/io/import/zip_reader.h"

namespace perceptra::import {

namespace {

constexpr uint64_t kMaxElements = uint64_t(1) << 32;

ElementType storage_type(const std::string& dtype, const std::string& where) {
  static const std::map<std::string, ElementType> types = {{"Float", ElementType::F32}, {"Double", ElementType::F64},
                                                           {"Half", ElementType::F16},  {"BFloat16", ElementType::BF16},
                                                           {"Long", ElementType::I64},  {"Int", ElementType::I32},
                                                           {"Short", ElementType::I16}, {"Char", ElementType::I8},
                                                           {"Byte", ElementType::U8},   {"Bool", ElementType::Bool}};
  auto it = types.find(dtype);
  if (it == types.end()) throw InputError(where, "storage type '" + dtype + "' is not supported");
  return it->second;
}

NamedTensor read_tensor(const ZipArchive& zip, const std::string& prefix, const std::string& name, const TensorRef& t) {
  const std::string where = zip.where() + ": tensor '" + name + "'";
  const ElementType type = storage_type(t.dtype, where);
  const ZipArchive::Entry* e = zip.find(prefix + "data/" + t.storage_key);
  if (!e) throw InputError(where, "its storage '" + t.storage_key + "' is missing from the archive");
  uint64_t storage_bytes;
  if (!mul_ok(uint64_t(t.storage_numel), uint64_t(element_size(type)), storage_bytes) || storage_bytes > e->size)
    throw InputError(where, "declares a storage of " + std::to_string(t.storage_numel) +
                                " elements but its archive entry has " + std::to_string(e->size) +
                                " bytes (truncated?)");
  // Elements and the furthest element the view touches, in 64-bit.
  uint64_t numel = 1, last = uint64_t(t.offset);
  if (t.offset < 0) throw InputError(where, "has a negative storage offset");
  for (size_t d = 0; d < t.size.size(); ++d) {
    if (t.size[d] < 0 || t.stride[d] < 0) throw InputError(where, "has a negative size or stride");
    if (!mul_ok(numel, uint64_t(t.size[d]), numel) || numel > kMaxElements)
      throw InputError(where, "has an impossible size " + shape_str(t.size));
  }
  // A state dict's views never overlap: more elements than the storage holds
  // (zero strides) would only make a small file expand.
  if (numel > uint64_t(t.storage_numel))
    throw InputError(where,
                     "views " + std::to_string(numel) + " elements of a storage of " + std::to_string(t.storage_numel));
  NamedTensor out;
  out.name = name;
  out.shape = t.size;
  out.floating = is_floating(type);
  if (numel == 0) return out;
  for (size_t d = 0; d < t.size.size(); ++d) {
    uint64_t span;
    if (!mul_ok(uint64_t(t.size[d] - 1), uint64_t(t.stride[d]), span) || span > kMaxElements * 8)
      throw InputError(where, "has an impossible stride");
    last += span;
  }
  if (last >= uint64_t(t.storage_numel))
    throw InputError(where,
                     "reads element " + std::to_string(last) + " of a storage of " + std::to_string(t.storage_numel));
  std::string_view raw = zip.data(*e);
  // Contiguous views (what state dicts hold) convert in one pass.
  bool contiguous = true;
  int64_t expect = 1;
  for (size_t d = t.size.size(); d-- > 0;) {
    if (t.size[d] != 1 && t.stride[d] != expect) contiguous = false;
    expect *= t.size[d];
  }
  if (contiguous) {
    convert_contiguous(type, raw.substr(size_t(t.offset) * size_t(element_size(type))), numel, out.values);
    return out;
  }
  std::vector<uint64_t> index(static_cast<size_t>(numel));
  std::vector<int64_t> at(t.size.size(), 0);
  for (uint64_t i = 0; i < numel; ++i) {
    uint64_t off = uint64_t(t.offset);
    for (size_t d = 0; d < at.size(); ++d) off += uint64_t(at[d] * t.stride[d]);
    index[size_t(i)] = off;
    for (size_t d = at.size(); d-- > 0;) {
      if (++at[d] < t.size[d]) break;
      at[d] = 0;
    }
  }
  convert_elements(type, raw, index, out.values);
  return out;
}

bool holds_tensors(const PyValue& d) {
  for (const auto& [k, v] : d.dict)
    if (v->kind == PyValue::Kind::Tensor) return true;
  return false;
}

}  // namespace

StateDict read_torch_state_dict(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  if (bytes.size() >= 2 && uint8_t(bytes[0]) == 0x80)
    throw InputError(path,
                     "is a legacy (pre-1.6, non-zip) torch file; re-save it with torch.save "
                     "in a current PyTorch");
  ZipArchive zip(bytes, path);
  const ZipArchive::Entry* pkl = nullptr;
  std::string prefix;
  for (const auto& e : zip.entries()) {
    const std::string suffix = "data.pkl";
    if (e.name.size() >= suffix.size() && e.name.compare(e.name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      if (pkl) throw InputError(path, "holds more than one data.pkl");
      pkl = &e;
      prefix = e.name.substr(0, e.name.size() - suffix.size());
    }
  }
  if (!pkl) throw InputError(path, "is a zip archive without data.pkl (not a torch.save file)");
  PyRef root = unpickle_torch(zip.data(*pkl), path + ": " + pkl->name);
  if (root->kind != PyValue::Kind::Dict)
    throw InputError(path, "does not hold a state dict (a dict of tensors) but another object");
  const PyValue* dict = root.get();
  if (!holds_tensors(*dict)) {  // a checkpoint: {"state_dict": {...}, "epoch": ...}
    for (const auto& [k, v] : root->dict)
      if (k->kind == PyValue::Kind::Str && (k->s == "state_dict" || k->s == "model") && v->kind == PyValue::Kind::Dict)
        dict = v.get();
  }
  StateDict out;
  for (const auto& [k, v] : dict->dict) {
    if (k->kind != PyValue::Kind::Str) throw InputError(path, "state dict has a key that is not a string");
    if (v->kind != PyValue::Kind::Tensor) throw InputError(path, "entry '" + k->s + "' is not a tensor");
    out.push_back(read_tensor(zip, prefix, k->s, v->tensor));
  }
  if (out.empty()) throw InputError(path, "holds no tensors");
  return out;
}

}  // namespace perceptra::import
