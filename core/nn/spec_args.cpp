#include "core/nn/spec_args.h"

#include <cmath>
#include <sstream>

#include "core/tensor/error.h"

namespace perceptra {

SpecArgs::SpecArgs(const nlohmann::json& j, std::string where, std::initializer_list<const char*> allowed)
    : j_(j), where_(std::move(where)) {
  if (!j_.is_object()) throw InputError(where_, "a layer must be a JSON object");
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    const std::string& key = it.key();
    if (key == "type" || key == "name") continue;
    bool ok = false;
    for (const char* a : allowed) ok = ok || key == a;
    if (!ok) {
      std::string known;
      for (const char* a : allowed) known += (known.empty() ? "" : ", ") + std::string(a);
      throw InputError(where_, "unknown field '" + key + "'" +
                                   (known.empty() ? " (this layer takes no arguments)" : " (known: " + known + ")"));
    }
  }
}

bool SpecArgs::has(const char* field) const { return j_.contains(field) && !j_[field].is_null(); }

void SpecArgs::fail(const char* field, const std::string& problem) const {
  throw InputError(where_, "field '" + std::string(field) + "' " + problem);
}

static bool integral(const nlohmann::json& v, long long& out) {
  if (v.is_number_integer()) {
    out = v.get<long long>();
    return true;
  }
  if (v.is_number_float()) {  // 3.0 is accepted as 3 (JSON editors write it)
    double d = v.get<double>();
    if (std::floor(d) != d || std::abs(d) > 1e9) return false;
    out = static_cast<long long>(d);
    return true;
  }
  return false;
}

int SpecArgs::positive_int(const char* field, int fallback) const {
  if (!has(field)) return fallback;
  long long v = 0;
  if (!integral(j_[field], v) || v < 1 || v > (1 << 30)) fail(field, "must be a positive integer");
  return static_cast<int>(v);
}

int SpecArgs::nonneg_int(const char* field, int fallback) const {
  if (!has(field)) return fallback;
  long long v = 0;
  if (!integral(j_[field], v) || v < 0 || v > (1 << 30)) fail(field, "must be a non-negative integer");
  return static_cast<int>(v);
}

std::pair<int, int> SpecArgs::pair(const char* field, std::pair<int, int> fallback, int min, const char* what) const {
  if (!has(field)) return fallback;
  const auto& v = j_[field];
  // A scalar gets the plain message ("must be a positive integer"), the brief
  // form users see most; a malformed pair names the pair form.
  std::string problem = std::string("must be a ") + what;
  long long a = 0, b = 0;
  if (v.is_array()) {
    problem = std::string("must be a pair [h, w] of ") + what + "s";
    if (v.size() != 2 || !integral(v[0], a) || !integral(v[1], b)) fail(field, problem);
  } else if (integral(v, a)) {
    b = a;
  } else {
    fail(field, problem);
  }
  if (a < min || b < min || a > (1 << 30) || b > (1 << 30)) fail(field, problem);
  return {static_cast<int>(a), static_cast<int>(b)};
}

std::pair<int, int> SpecArgs::positive_pair(const char* field, std::pair<int, int> fallback) const {
  return pair(field, fallback, 1, "positive integer");
}

std::pair<int, int> SpecArgs::nonneg_pair(const char* field, std::pair<int, int> fallback) const {
  return pair(field, fallback, 0, "non-negative integer");
}

float SpecArgs::number(const char* field, float fallback, float lo, float hi, bool hi_inclusive) const {
  if (!has(field)) return fallback;
  const auto& v = j_[field];
  std::ostringstream range;
  range << "must be a number in [" << lo << ", " << hi << (hi_inclusive ? "]" : ")");
  if (!v.is_number()) fail(field, range.str());
  double d = v.get<double>();
  if (!(d >= lo) || (hi_inclusive ? !(d <= hi) : !(d < hi))) fail(field, range.str());
  return static_cast<float>(d);
}

bool SpecArgs::boolean(const char* field, bool fallback) const {
  if (!has(field)) return fallback;
  if (!j_[field].is_boolean()) fail(field, "must be true or false");
  return j_[field].get<bool>();
}

std::string SpecArgs::choice(const char* field, const std::string& fallback,
                             const std::vector<std::string>& options) const {
  if (!has(field)) return fallback;
  std::string known;
  for (const auto& o : options) known += (known.empty() ? "'" : ", '") + o + "'";
  if (!j_[field].is_string()) fail(field, "must be one of " + known);
  std::string s = j_[field].get<std::string>();
  for (const auto& o : options)
    if (o == s) return s;
  fail(field, "is '" + s + "' but must be one of " + known);
}

nlohmann::json pair_json(int h, int w) {
  if (h == w) return h;
  return nlohmann::json::array({h, w});
}

}  // namespace perceptra
