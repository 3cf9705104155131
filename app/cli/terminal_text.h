#pragma once
// Text from files and the database printed to a terminal: class names, run
// names and paths may hold escape sequences (ESC[2J, OSC 8 ...) or invalid
// UTF-8. printable() neutralises control characters; field_text() reads a
// string field of a JSON column that may be anything.
#include <string>

#include <nlohmann/json.hpp>

namespace perceptra::cli {

// C0 controls, DEL and the UTF-8 encoded C1 controls (U+0080..U+009F, e.g.
// the 8-bit CSI) become '?'.
inline std::string printable(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out += '?';
    } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out += '?';
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// j[key] when j is an object holding a string there, else "".
inline std::string field_text(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace perceptra::cli
