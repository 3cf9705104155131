#pragma once
// JSON from files, model headers and database columns is untrusted: nlohmann
// parses iteratively, but copying a parsed value recurses once per nesting
// level, so 150k nested arrays overflow the stack in the first copy. Every
// JSON we read goes through parse_json_bounded, which measures the nesting
// depth first (one linear scan, strings skipped) and refuses deep documents
// with an InputError naming the source. Header-only: core/store uses it
// without linking the tensor library.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/tensor/error.h"

namespace perceptra {

// Specs nest two levels per residual block; real documents stay far below.
inline constexpr int kMaxJsonDepth = 100;

// Deepest nesting of [ and { outside strings; stops counting past `stop_at`.
inline int json_nesting_depth(std::string_view text, int stop_at = 1 << 30) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > stop_at) return deepest;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Parses `text` or throws InputError(where, ...): not JSON, or nested deeper
// than max_depth.
inline nlohmann::json parse_json_bounded(std::string_view text, const std::string& where,
                                         int max_depth = kMaxJsonDepth) {
  if (json_nesting_depth(text, max_depth) > max_depth)
    throw InputError(where,
                     "JSON is nested more than " + std::to_string(max_depth) + " levels deep (corrupt or hostile)");
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where, std::string("not valid JSON: ") + e.what());
  }
}

// Same, without exceptions: nullopt when the text is not JSON or too deep.
inline std::optional<nlohmann::json> try_parse_json_bounded(std::string_view text, int max_depth = kMaxJsonDepth) {
  if (json_nesting_depth(text, max_depth) > max_depth) return std::nullopt;
  auto j = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

// dump() that never throws on invalid UTF-8 (file names and run names are
// bytes, not necessarily UTF-8): bad sequences become U+FFFD.
inline std::string dump_json_safe(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace perceptra
