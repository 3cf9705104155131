#pragma once
// Window geometry shared by MaxPool2d and AvgPool2d (floor mode, PyTorch's default).
#include <string>

#include "core/backend/backend.h"
#include "core/tensor/error.h"
#include "core/tensor/shape.h"

namespace perceptra {

struct PoolOptions {
  int kh = 2, kw = 2, sh = 2, sw = 2, ph = 0, pw = 0;
};

// Output shape for [N, C, H, W]; InputError naming `where` when it doesn't fit.
inline Shape pool_output_shape(const PoolOptions& o, const Shape& in, const std::string& where) {
  if (in.rank() != 4)
    throw InputError(where, "expects an image input [channels, height, width] but gets " + in.sample().str());
  // 64-bit: spec values go up to 2^30, so 2 * padding overflows int.
  const int64_t padded_h = in[2] + 2 * int64_t(o.ph), padded_w = in[3] + 2 * int64_t(o.pw);
  if (padded_h < o.kh || padded_w < o.kw)
    throw InputError(where, "field 'kernel' (" + std::to_string(o.kh) + "x" + std::to_string(o.kw) +
                                ") does not fit the input " + std::to_string(in[2]) + "x" + std::to_string(in[3]));
  return {in[0], in[1], (padded_h - o.kh) / o.sh + 1, (padded_w - o.kw) / o.sw + 1};
}

inline PoolGeometry pool_geometry(const PoolOptions& o, const Shape& in) {
  return make_pool_geometry(static_cast<int>(in[0]), static_cast<int>(in[1]), static_cast<int>(in[2]),
                            static_cast<int>(in[3]), o.kh, o.kw, o.sh, o.sw, o.ph, o.pw);
}

}  // namespace perceptra
