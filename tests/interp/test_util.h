#pragma once
// Helpers for hand-built models in the interp tests.
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/model.h"

namespace perceptra::test {

inline std::unique_ptr<Model> build(const nlohmann::json& spec, uint64_t seed = 1) {
  Rng rng(seed);
  return Model::from_spec(spec, rng);
}

// Overwrites parameter `param` (0 weight, 1 bias) of top-level layer `layer`.
inline void set_param(Model& m, int layer, int param, const std::vector<float>& v) {
  Parameter* p = m.layers().at(static_cast<size_t>(layer))->parameters().at(static_cast<size_t>(param));
  p->value.copy_from(Tensor::from_vector(p->value.shape(), v));
}

// Bit patterns of every parameter value and gradient, to prove nothing moved.
inline std::vector<std::vector<uint32_t>> fingerprint(Model& m) {
  std::vector<std::vector<uint32_t>> out;
  auto bits = [](const Tensor& t) {
    std::vector<float> v = t.to_vector();
    std::vector<uint32_t> b(v.size());
    std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
    return b;
  };
  for (Parameter* p : m.parameters()) {
    out.push_back(bits(p->value));
    if (p->grad.defined()) out.push_back(bits(p->grad));
  }
  return out;
}

}  // namespace perceptra::test
