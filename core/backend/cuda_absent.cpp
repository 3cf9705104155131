#include "core/backend/cuda_entry.h"
#include "core/tensor/error.h"

namespace perceptra {

CudaProbe cuda_probe_impl() {
  CudaProbe p;
  p.reason = "not compiled in (this build has no CUDA backend)";
  return p;
}

Backend& cuda_backend(int) { throw Error("CUDA: not compiled in (this build has no CUDA backend)"); }

}  // namespace perceptra
