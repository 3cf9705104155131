#pragma once
// Shared by the CPU backend's op files (internal to core/backend/cpu).
#include <cstddef>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_profile.h"

namespace perceptra {

// Loops go parallel only when the work pays for the OpenMP fork.
inline constexpr size_t kParallelMin = size_t(1) << 15;

}  // namespace perceptra
