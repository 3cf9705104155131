#include "core/tensor/random.h"

#include <cmath>
#include <sstream>

#include "core/tensor/error.h"

namespace perceptra {

namespace {
uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

void Rng::reseed(uint64_t seed) {
  uint64_t x = seed;
  for (auto& v : s_) v = splitmix64(x);
  has_spare_ = false;
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

float Rng::uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }

float Rng::uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }

float Rng::normal(float mean, float stddev) {
  if (has_spare_) {
    has_spare_ = false;
    return mean + stddev * spare_;
  }
  // Box-Muller in double: deterministic given the libm, avoids log(0).
  double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
  double r = std::sqrt(-2.0 * std::log(u1));
  double th = 6.283185307179586 * u2;
  spare_ = static_cast<float>(r * std::sin(th));
  has_spare_ = true;
  return mean + stddev * static_cast<float>(r * std::cos(th));
}

uint64_t Rng::below(uint64_t n) {
  if (n == 0) return 0;
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = next_u64();
  while (v >= limit);
  return v % n;
}

Rng Rng::fork(uint64_t stream) const {
  uint64_t x = s_[0] ^ rotl(s_[2], 13) ^ (stream * 0xD1B54A32D192ED03ull);
  return Rng(splitmix64(x));
}

std::string Rng::save() const {
  std::ostringstream os;
  os << s_[0] << ' ' << s_[1] << ' ' << s_[2] << ' ' << s_[3] << ' ' << has_spare_ << ' ';
  os.precision(9);
  os << spare_;
  return os.str();
}

void Rng::load(const std::string& text) {
  std::istringstream is(text);
  Rng r;
  is >> r.s_[0] >> r.s_[1] >> r.s_[2] >> r.s_[3] >> r.has_spare_ >> r.spare_;
  if (!is) throw Error("random state: malformed text '" + text + "'");
  *this = r;
}

}  // namespace perceptra
