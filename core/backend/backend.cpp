#include "core/backend/backend.h"

#include <mutex>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda_entry.h"

namespace perceptra {

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
  return cuda_backend(device.index);
}

CudaProbe probe_cuda() {
  // The driver query is slow-ish and its answer fixed for the process.
  static std::once_flag once;
  static CudaProbe probe;
  std::call_once(once, [] { probe = cuda_probe_impl(); });
  return probe;
}

}  // namespace perceptra
