#include "core/sweep/json_path.h"

#include <sstream>
#include <vector>

#include "core/tensor/error.h"

namespace perceptra {

namespace {
std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  std::string p;
  while (std::getline(ss, p, '.')) parts.push_back(p);
  return parts;
}
}  // namespace

std::optional<nlohmann::json> json_path_get(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json* cur = &j;
  for (const auto& part : split(path)) {
    if (part.empty() || !cur->is_object() || !cur->contains(part)) return std::nullopt;
    cur = &(*cur)[part];
  }
  return *cur;
}

void json_path_set(nlohmann::json& j, const std::string& path, const nlohmann::json& value) {
  nlohmann::json* cur = &j;
  std::string walked;
  for (const auto& part : split(path)) {
    if (cur->is_null()) *cur = nlohmann::json::object();  // created on the way
    if (!cur->is_object()) throw InputError("sweep", "'" + walked + "' is not an object, cannot set '" + path + "'");
    walked += (walked.empty() ? "" : ".") + part;
    cur = &(*cur)[part];
  }
  *cur = value;
}

}  // namespace perceptra
