#include "core/io/import/element_types.h"

#include <cstring>

#include "core/io/import/half.h"

namespace perceptra::import {

int element_size(ElementType t) {
  switch (t) {
    case ElementType::F64:
    case ElementType::I64:
      return 8;
    case ElementType::F32:
    case ElementType::I32:
      return 4;
    case ElementType::F16:
    case ElementType::BF16:
    case ElementType::I16:
      return 2;
    case ElementType::I8:
    case ElementType::U8:
    case ElementType::Bool:
      return 1;
  }
  return 1;
}

bool is_floating(ElementType t) {
  return t == ElementType::F32 || t == ElementType::F64 || t == ElementType::F16 || t == ElementType::BF16;
}

namespace {
template <class T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
float element(ElementType t, const char* p) {
  switch (t) {
    case ElementType::F32:
      return load<float>(p);
    case ElementType::F64:
      return float(load<double>(p));
    case ElementType::F16:
      return half_to_float(load<uint16_t>(p));
    case ElementType::BF16:
      return bfloat16_to_float(load<uint16_t>(p));
    case ElementType::I64:
      return float(load<int64_t>(p));
    case ElementType::I32:
      return float(load<int32_t>(p));
    case ElementType::I16:
      return float(load<int16_t>(p));
    case ElementType::I8:
      return float(load<int8_t>(p));
    case ElementType::U8:
      return float(load<uint8_t>(p));
    case ElementType::Bool:
      return load<uint8_t>(p) ? 1.f : 0.f;
  }
  return 0.f;
}
}  // namespace

void convert_elements(ElementType t, std::string_view raw, const std::vector<uint64_t>& index,
                      std::vector<float>& values) {
  const size_t es = size_t(element_size(t));
  values.resize(index.size());
  for (size_t i = 0; i < index.size(); ++i) values[i] = element(t, raw.data() + index[i] * es);
}

void convert_contiguous(ElementType t, std::string_view raw, uint64_t n, std::vector<float>& values) {
  values.resize(size_t(n));
  if (t == ElementType::F32) {
    if (n) std::memcpy(values.data(), raw.data(), size_t(n) * 4);
    return;
  }
  const size_t es = size_t(element_size(t));
  for (uint64_t i = 0; i < n; ++i) values[size_t(i)] = element(t, raw.data() + i * es);
}

}  // namespace perceptra::import
