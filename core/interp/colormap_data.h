#pragma once
// Raw colour-map tables (256 RGB triples each), generated; see colormap_data.cpp.
#include <cstdint>

namespace perceptra::colormap_data {
extern const uint8_t viridis[256 * 3];
extern const uint8_t magma[256 * 3];
}  // namespace perceptra::colormap_data
