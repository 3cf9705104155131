#include "core/data/image_size.h"

#include <cctype>
#include <cstdio>

#include "core/tensor/error.h"

namespace perceptra {

ResizePolicy parse_resize_policy(const std::string& text, const std::string& what) {
  std::string t;
  for (char c : text) t += char(std::tolower(static_cast<unsigned char>(c)));
  if (t == "squish" || t == "stretch") return ResizePolicy::squish;
  if (t == "crop" || t == "centre-crop" || t == "center-crop") return ResizePolicy::crop;
  if (t == "pad" || t == "letterbox") return ResizePolicy::pad;
  throw InputError(what, "unknown resize policy '" + text + "' (squish, crop or pad)");
}

const char* resize_policy_name(ResizePolicy p) {
  switch (p) {
    case ResizePolicy::squish:
      return "squish";
    case ResizePolicy::crop:
      return "crop";
    case ResizePolicy::pad:
      return "pad";
  }
  return "crop";
}

std::string ImageSize::str() const {
  return automatic() ? std::string("auto") : std::to_string(height) + "x" + std::to_string(width);
}

ImageSize parse_image_size(const std::string& text, const std::string& what) {
  if (text == "auto" || text.empty()) return {};
  long h = 0, w = 0;
  char x = 0, extra = 0;
  const int got = std::sscanf(text.c_str(), "%ld%c%ld%c", &h, &x, &w, &extra);
  if (got == 1) {
    w = h;
  } else if (!(got == 3 && (x == 'x' || x == 'X'))) {
    throw InputError(what, "expected N or HxW (e.g. 224 or 224x160), got '" + text + "'");
  }
  for (char c : text)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == 'x' || c == 'X'))
      throw InputError(what, "expected N or HxW (e.g. 224 or 224x160), got '" + text + "'");
  if (h < 1 || w < 1 || h > kMaxImageSide || w > kMaxImageSide)
    throw InputError(what,
                     "height and width must be in [1, " + std::to_string(kMaxImageSide) + "], got '" + text + "'");
  return {int(h), int(w)};
}

}  // namespace perceptra
