#include "core/optim/json_fields.h"

#include <cmath>
#include <sstream>

#include "core/tensor/error.h"

namespace perceptra::optim_json {

namespace {
std::string must_be(const char* key, const char* what, const nlohmann::json& v) {
  return std::string("field '") + key + "' must be " + what + ", got " + v.dump();
}
}  // namespace

void require_object(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where, "expected a JSON object, got " + j.dump());
}

void reject_unknown(const nlohmann::json& j, std::initializer_list<const char*> known, const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      throw InputError(where, "unknown field '" + it.key() + "' (known: " + list + ")");
    }
  }
}

void read(const nlohmann::json& j, const char* key, const std::string& where, double& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (!it->is_number()) throw InputError(where, must_be(key, "a number", *it));
  double v = it->get<double>();
  if (!std::isfinite(v)) throw InputError(where, must_be(key, "a finite number", *it));
  out = v;
}

void read(const nlohmann::json& j, const char* key, const std::string& where, float& out) {
  double v = out;
  read(j, key, where, v);
  out = static_cast<float>(v);
}

void read(const nlohmann::json& j, const char* key, const std::string& where, int64_t& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (it->is_number_integer()) {
    out = it->get<int64_t>();
    return;
  }
  // 100.0 from a GUI spin box is still an integer.
  if (it->is_number_float()) {
    double v = it->get<double>();
    if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9e15) {
      out = static_cast<int64_t>(v);
      return;
    }
  }
  throw InputError(where, must_be(key, "an integer", *it));
}

void read(const nlohmann::json& j, const char* key, const std::string& where, int& out) {
  int64_t v = out;
  read(j, key, where, v);
  if (v < INT32_MIN || v > INT32_MAX) throw InputError(where, must_be(key, "a 32-bit integer", j[key]));
  out = static_cast<int>(v);
}

void read(const nlohmann::json& j, const char* key, const std::string& where, bool& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (!it->is_boolean()) throw InputError(where, must_be(key, "true or false", *it));
  out = it->get<bool>();
}

void read(const nlohmann::json& j, const char* key, const std::string& where, std::string& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (!it->is_string()) throw InputError(where, must_be(key, "a string", *it));
  out = it->get<std::string>();
}

void bad_field(const std::string& where, const char* key, const std::string& requirement, double got) {
  std::ostringstream os;
  os << "field '" << key << "' must be " << requirement << ", got " << got;
  throw InputError(where, os.str());
}

}  // namespace perceptra::optim_json
