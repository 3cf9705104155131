#pragma once
// Element types a weights file may store, converted to float32.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace perceptra::import {

enum class ElementType { F32, F64, F16, BF16, I64, I32, I16, I8, U8, Bool };
// Bytes per element.
int element_size(ElementType t);
bool is_floating(ElementType t);
// values[i] = element (index[i]) of raw, for n elements at the given element
// indices; the caller has checked every index against raw's size.
void convert_elements(ElementType t, std::string_view raw, const std::vector<uint64_t>& index,
                      std::vector<float>& values);
// Contiguous: elements 0..n-1.
void convert_contiguous(ElementType t, std::string_view raw, uint64_t n, std::vector<float>& values);

}  // namespace perceptra::import
