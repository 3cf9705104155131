#pragma once
// Link-time seam between the backend registry and the CUDA backend. Exactly
// one of core/backend/cuda/ (CUDA builds) or cuda_absent.cpp defines these.
#include "core/backend/backend.h"

namespace perceptra {
CudaProbe cuda_probe_impl();
// The backend of CUDA device `index`; throws Error when unusable.
Backend& cuda_backend(int index);
}  // namespace perceptra
