#include "core/data/workers.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace perceptra {

int default_decode_threads() {
  if (const char* e = std::getenv("PERCEPTRA_DECODE_THREADS"); e && *e) {
    const int n = std::atoi(e);
    if (n >= 1) return std::min(n, 64);
  }
  const int hw = int(std::thread::hardware_concurrency());
  return std::clamp(hw, 1, 4);
}

}  // namespace perceptra
