#include "core/tensor/device.h"

#include "core/tensor/error.h"

namespace perceptra {

std::string Device::str() const { return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index); }

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

}  // namespace perceptra
