#include "core/backend/backend.h"
#include "core/tensor/error.h"

namespace perceptra {

ConvGeometry make_conv_geometry(int N, int C, int H, int W, int K, int R, int S, int stride_h, int stride_w, int pad_h,
                                int pad_w, int dil_h, int dil_w, int groups) {
  ConvGeometry g{N, C, H, W, K, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, 0, 0};
  PCHECK(groups >= 1 && C % groups == 0 && K % groups == 0,
         "conv: channels (" + std::to_string(C) + " in, " + std::to_string(K) + " out) must be divisible by groups " +
             std::to_string(groups));
  PCHECK(stride_h >= 1 && stride_w >= 1 && dil_h >= 1 && dil_w >= 1 && pad_h >= 0 && pad_w >= 0,
         "conv: stride and dilation must be >= 1 and padding >= 0");
  g.P = (H + 2 * pad_h - dil_h * (R - 1) - 1) / stride_h + 1;
  g.Q = (W + 2 * pad_w - dil_w * (S - 1) - 1) / stride_w + 1;
  PCHECK(g.P > 0 && g.Q > 0, "conv: kernel " + std::to_string(R) + "x" + std::to_string(S) + " does not fit input " +
                                 std::to_string(H) + "x" + std::to_string(W) + " with padding " +
                                 std::to_string(pad_h));
  return g;
}

PoolGeometry make_pool_geometry(int N, int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw) {
  PoolGeometry g{N, C, H, W, kh, kw, sh, sw, ph, pw, 0, 0};
  PCHECK(kh >= 1 && kw >= 1 && sh >= 1 && sw >= 1, "pool: kernel and stride must be >= 1");
  PCHECK(2 * ph <= kh && 2 * pw <= kw, "pool: padding must be at most half the kernel size");
  g.P = (H + 2 * ph - kh) / sh + 1;
  g.Q = (W + 2 * pw - kw) / sw + 1;
  PCHECK(g.P > 0 && g.Q > 0, "pool: kernel " + std::to_string(kh) + "x" + std::to_string(kw) + " does not fit input " +
                                 std::to_string(H) + "x" + std::to_string(W));
  return g;
}

}  // namespace perceptra
