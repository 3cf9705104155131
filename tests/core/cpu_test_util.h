#pragma once
// Shared by the CPU backend's tests.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/tensor/random.h"

namespace perceptra::test {

// n uniform values in [-1, 1), reproducible from the seed.
inline std::vector<float> randv(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(-1.f, 1.f);
  return v;
}

}  // namespace perceptra::test
