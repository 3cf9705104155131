#include "core/data/dataset.h"

namespace perceptra {

std::vector<int> Dataset::labels() const {
  std::vector<int> out(static_cast<size_t>(size()));
  for (int64_t i = 0; i < size(); ++i) out[static_cast<size_t>(i)] = label(i);
  return out;
}

}  // namespace perceptra
