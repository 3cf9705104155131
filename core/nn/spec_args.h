#pragma once
// Reading a layer's JSON arguments with errors that name the layer and field,
// e.g. "layer 3 (conv2d): field 'kernel' must be a positive integer".
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace perceptra {

class SpecArgs {
 public:
  // `where` is "layer 3 (conv2d)"; fields not in `allowed` (besides "type"
  // and "name") are rejected, which catches typos like "kernal".
  SpecArgs(const nlohmann::json& j, std::string where, std::initializer_list<const char*> allowed);

  bool has(const char* field) const;
  int positive_int(const char* field, int fallback) const;
  int nonneg_int(const char* field, int fallback) const;
  // An integer or a pair [h, w] (like PyTorch's int-or-tuple arguments).
  std::pair<int, int> positive_pair(const char* field, std::pair<int, int> fallback) const;
  std::pair<int, int> nonneg_pair(const char* field, std::pair<int, int> fallback) const;
  // A number in [lo, hi) (hi_inclusive: [lo, hi]).
  float number(const char* field, float fallback, float lo, float hi, bool hi_inclusive = false) const;
  bool boolean(const char* field, bool fallback) const;
  std::string choice(const char* field, const std::string& fallback, const std::vector<std::string>& options) const;
  const nlohmann::json& raw(const char* field) const { return j_.at(field); }

  [[noreturn]] void fail(const char* field, const std::string& problem) const;
  const std::string& where() const { return where_; }

 private:
  std::pair<int, int> pair(const char* field, std::pair<int, int> fallback, int min, const char* what) const;
  const nlohmann::json& j_;
  std::string where_;
};

// Writes an (h, w) pair back as an int when square, like the spec accepts.
nlohmann::json pair_json(int h, int w);

}  // namespace perceptra
