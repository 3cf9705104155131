#pragma once
// Builders of hostile model files for the tests: containers with a valid
// checksum around any header text, so the loaders' validation (not the CRC)
// is what refuses them.
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace perceptra::hostile {

// Container bytes (see core/io/tensor_file.h) with header text `header` and
// `payload` floats; kind 1 = model, 2 = checkpoint.
inline std::string container(const std::string& header, const std::vector<float>& payload, uint32_t kind = 1) {
  std::string out("PRCPTRA\0", 8);
  auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(uint32_t(1));
  put(kind);
  put(uint64_t(header.size()));
  put(uint64_t(payload.size() * sizeof(float)));
  out += header;
  out.append(reinterpret_cast<const char*>(payload.data()), payload.size() * sizeof(float));
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data()), uInt(out.size()));
  put(uint32_t(crc));
  return out;
}

// `depth` nested arrays: "[[[...]]]".
inline std::string nested_arrays(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A tiny valid MLP: input [c, 2, 2], `classes` outputs; weights all 0.01.
inline nlohmann::json tiny_spec(int channels = 3, int classes = 2) {
  return {{"input", {channels, 2, 2}},
          {"classes", classes},
          {"layers", {{{"type", "flatten"}}, {{"type", "linear"}, {"out_features", classes}}}}};
}

// Header + payload of a model file for tiny_spec with the given meta.
inline std::string tiny_model_file(const nlohmann::json& meta, int channels = 3, int classes = 2,
                                   const nlohmann::json& spec_override = nullptr) {
  const int64_t in = int64_t(channels) * 4;
  nlohmann::json header = {{"spec", spec_override.is_null() ? tiny_spec(channels, classes) : spec_override},
                           {"meta", meta},
                           {"tensors",
                            {{{"name", "fc1.weight"}, {"section", "weights"}, {"shape", {classes, in}}},
                             {{"name", "fc1.bias"}, {"section", "weights"}, {"shape", {classes}}}}}};
  std::vector<float> payload(size_t(classes * in + classes), 0.01f);
  return container(header.dump(), payload);
}

}  // namespace perceptra::hostile
