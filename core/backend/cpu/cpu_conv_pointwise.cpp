// The input gradient of a strided 1x1 convolution on channel-blocked
// operands (ResNet's projection shortcuts): dx = W^T dy on the grid the
// stride samples, zero between. oneDNN's jit_1x1 kernel ran it at 37-74
// GFLOP/s on ResNet-small's two projections (0.70 and 0.35 ms per batch of
// 128, 2 threads), most of it spent on the zeros; this writes each output
// vector once, B input channels per vector, one broadcast dy value per
// output channel.
#include <omp.h>

#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_kernel.h"
#include "core/backend/cpu/cpu_lanes.h"

namespace perceptra {

namespace {

template <int B>
void pointwise_strided_dx(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  using V = LaneF<B>;
  const int CB = g.C / B, KB = g.K / B;
  const size_t dy_plane = size_t(g.P) * g.Q * B, dx_plane = size_t(g.H) * g.W * B;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n)
    for (int cb = 0; cb < CB; ++cb) {
      float* out = dx + (size_t(n) * CB + cb) * dx_plane;
      const float* dyn = dy + size_t(n) * KB * dy_plane;
      for (int h = 0; h < g.H; ++h) {
        const int p = h / g.stride_h;
        const bool row = h % g.stride_h == 0 && p < g.P;
        for (int x = 0; x < g.W; ++x) {
          const int q = x / g.stride_w;
          V acc{};
          if (row && x % g.stride_w == 0 && q < g.Q) {
            const float* d = dyn + (size_t(p) * g.Q + q) * B;
            for (int kb = 0; kb < KB; ++kb, d += dy_plane)
              for (int l = 0; l < B; ++l) acc += d[l] * load<B>(w + size_t(kb * B + l) * g.C + cb * B);
          }
          store<B>(out + (size_t(h) * g.W + x) * B, acc);
        }
      }
    }
}

}  // namespace

bool pointwise_strided_backward_data_applies(const ConvGeometry& g, int dy_block) {
  const int b = g.in_block;
  return (b == 8 || b == 16) && dy_block == b && g.R == 1 && g.S == 1 && (g.stride_h > 1 || g.stride_w > 1) &&
         g.pad_h == 0 && g.pad_w == 0 && g.dil_h == 1 && g.dil_w == 1 && g.groups == 1 && g.C % b == 0 && g.K % b == 0;
}

void pointwise_strided_backward_data_blocked(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  if (g.in_block == 16)
    pointwise_strided_dx<16>(g, dy, w, dx);
  else
    pointwise_strided_dx<8>(g, dy, w, dx);
}

}  // namespace perceptra
