#pragma once
// Shared by the CPU backend's op files (internal to core/backend/cpu).
#include <cstddef>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_profile.h"

namespace perceptra {

// Loops go parallel only when the work pays for the OpenMP fork.
inline constexpr size_t kParallelMin = size_t(1) << 15;

// Max pooling of a channel-blocked tensor [N][ceil(C/block)][H][W][block]
// (oneDNN's nChw8c / nChw16c, block 8 or 16) into the same layout: an
// inference chain pools a convolution's output where oneDNN wrote it
// (cpu_pool.cpp). Padded cells never win, as in PyTorch.
void maxpool2d_forward_blocked(const PoolGeometry& g, int block, const float* x, float* y);

}  // namespace perceptra
