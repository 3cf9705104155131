#include "core/backend/backend.h"

#include <mutex>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda_entry.h"

namespace perceptra {

const char* op_name(Op op) {
  static const char* const kNames[] = {
#define PERCEPTRA_OP(ret, name, args) #name,
#include "core/backend/backend_ops.inc"
  };
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == size_t(kOpCount));
  const int i = int(op);
  return i >= 0 && i < kOpCount ? kNames[i] : "unknown op";
}

void Backend::unsupported(Op op) const { throw Error(std::string(op_name(op)) + ": not supported by " + describe()); }

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

Device resolve_device(const DeviceRequest& request, std::string* note) {
  if (!request.automatic && request.device.is_cpu()) return Device::cpu();
  CudaProbe probe = probe_cuda();
  if (request.automatic) {
    if (probe.device_count > 0) return Device::cuda(0);
    if (note) *note = "CUDA: " + probe.reason + " — training on CPU";
    return Device::cpu();
  }
  if (probe.device_count == 0) throw Error("cannot use " + request.device.str() + ": CUDA: " + probe.reason);
  if (request.device.index >= probe.device_count)
    throw Error("cannot use " + request.device.str() + ": only " + std::to_string(probe.device_count) +
                " CUDA device(s) present");
  return request.device;
}

}  // namespace perceptra
