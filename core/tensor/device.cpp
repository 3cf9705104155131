#include "core/tensor/device.h"

#include "core/backend/backend.h"
#include "core/tensor/error.h"

namespace perceptra {

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index);
}

DeviceRequest DeviceRequest::parse(const std::string& text) {
  DeviceRequest r;
  if (text.empty() || text == "auto") return r;
  r.automatic = false;
  if (text == "cpu") return r;
  if (text == "cuda") {
    r.device = Device::cuda(0);
    return r;
  }
  if (text.rfind("cuda:", 0) == 0) {
    std::string idx = text.substr(5);
    bool digits = !idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos;
    if (digits && idx.size() < 4) {
      r.device = Device::cuda(std::stoi(idx));
      return r;
    }
  }
  throw InputError("device", "'" + text + "' is not one of auto, cpu, cuda:N");
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
    throw Error("cannot use " + request.device.str() + ": only " +
                std::to_string(probe.device_count) + " CUDA device(s) present");
  return request.device;
}

}  // namespace perceptra
