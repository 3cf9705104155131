#pragma once
// Message helpers of the distributed sweep protocol (distributed.h):
// JSON objects with a "t" (type) field, metric points as [step, epoch,
// name, value] arrays. Internal to core/sweep.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store/store.h"
#include "core/tensor/error.h"

namespace perceptra::sweep_protocol {

inline nlohmann::json points_json(const std::vector<MetricPoint>& points) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& p : points) a.push_back({p.step, p.epoch, p.name, p.value});
  return a;
}

// Throws Error on a malformed list (a message from a broken peer).
inline std::vector<MetricPoint> points_from(const nlohmann::json& a) {
  std::vector<MetricPoint> out;
  if (!a.is_array()) return out;
  for (const auto& p : a) {
    if (!p.is_array() || p.size() != 4 || !p[2].is_string() || !p[3].is_number())
      throw Error("sweep protocol: malformed metric point " + p.dump());
    out.push_back({p[0].get<int64_t>(), p[1].get<int64_t>(), p[2].get<std::string>(), p[3].get<double>()});
  }
  return out;
}

// Parses a message; Error naming the sender when it is not a JSON object
// with a type.
inline nlohmann::json parse(const std::string& bytes, int source) {
  nlohmann::json j = nlohmann::json::parse(bytes, nullptr, false);
  if (!j.is_object() || !j.contains("t") || !j["t"].is_string())
    throw Error("sweep protocol: malformed message from rank " + std::to_string(source));
  return j;
}

}  // namespace perceptra::sweep_protocol
