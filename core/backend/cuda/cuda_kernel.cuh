#pragma once
// Shared by the CUDA backend's op files (.cu): the backend class, error
// checks, the per-element bodies (cuda_math.h, namespace m) and the
// grid-stride loop every kernel is written as.
#include "core/backend/cuda/cuda_backend.h"
#include "core/backend/cuda/cuda_check.h"
#include "core/backend/cuda/cuda_math.h"
#include "core/backend/cuda/cuda_reduce.cuh"

namespace perceptra::cuda {
namespace m = ::perceptra::cudamath;
}  // namespace perceptra::cuda

#define GRID_STRIDE(i, n) \
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)blockDim.x * gridDim.x)
