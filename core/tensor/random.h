#pragma once
// Seeded, portable random numbers (xoshiro256** seeded by splitmix64, our own
// uniform/normal transforms) so the same seed gives bit-identical results on
// every machine and standard library. State can be saved into checkpoints.
#include <array>
#include <cstdint>
#include <string>

namespace perceptra {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);
  uint64_t next_u64();
  uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }
  float uniform();                    // [0, 1)
  float uniform(float lo, float hi);  // [lo, hi)
  float normal(float mean = 0.f, float stddev = 1.f);
  uint64_t below(uint64_t n);  // [0, n), unbiased
  // Derives an independent stream (e.g. one per epoch or worker).
  Rng fork(uint64_t stream) const;

  std::string save() const;            // text form for checkpoints
  void load(const std::string& text);  // throws Error on malformed text

 private:
  std::array<uint64_t, 4> s_{};
  bool has_spare_ = false;
  float spare_ = 0.f;
};

// Stateless hash used where order must not matter (dropout masks on any
// device): a counter-based generator, identical on CPU and CUDA.
inline uint32_t hash_u32(uint64_t seed, uint64_t counter) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (counter + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<uint32_t>(z >> 32);
}

}  // namespace perceptra
