#pragma once
#include <string>

namespace perceptra {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  std::string str() const;  // "cpu" or "cuda:0"
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// What the user asked for: "auto", "cpu" or "cuda:N" ("cuda" = "cuda:0").
struct DeviceRequest {
  bool automatic = true;
  Device device;
  static DeviceRequest parse(const std::string& text);  // throws InputError
};

// resolve_device() (core/backend/backend.h) turns a request into a Device
// against what the machine has.

}  // namespace perceptra
