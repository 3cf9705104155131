#pragma once
// Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution of channel-blocked
// tensors (oneDNN's nChw8c / nChw16c), used by the CPU backend for 3x3
// stride-1 convolutions: forward, input and weight gradients
// (cpu_winograd.cpp). A 2x2 output tile costs 16 products per channel pair
// instead of 36 (2.25x fewer multiply-adds than a direct convolution), a
// 4x4 tile 36 instead of 144 (4x). oneDNN 2.6 has Winograd kernels only for
// AVX-512, and only for 32 channels and more at batch 8 and more.
#include "core/backend/backend.h"
#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

// True when `g` is a convolution this kernel computes: 3x3, stride 1,
// dilation 1, one group, C and K multiples of 8, C * K <= 512 * 512 (past
// 64 * 64 the products are sgemm calls over large chunks of tiles, and the
// batch must give at least C * K / 512 tiles to pay for the filters'
// transform and memory, unless filters_held: transformed once per held
// inference pass, winograd_held_filters).
bool winograd_applies(const ConvGeometry& g, bool filters_held = false);

// A convolution's transformed filters, for calls that share them (an
// inference chain's sub-batches: ResNet-18 at 224 runs one image at a time,
// and transforming its filters per image made inference 13 % slower).
struct WinogradFilters {
  int tile = 0;  // 0: not prepared
  CpuScratch U;
};
void winograd_prepare_filters(const ConvGeometry& g, const float* w, WinogradFilters& f);
// During a held inference pass (WeightsHeld) the filters of w for g,
// prepared on this thread's first call of the pass and dropped at its end;
// null when no hold lives (chains then prepare theirs per call: 0.17 ms for
// 64 x 64 channels at F(4x4), ~3 % of ResNet-small's inference).
const WinogradFilters* winograd_held_filters(const ConvGeometry& g, const float* w);

// y = post(conv(x, w) + bias [+ add]) with x [N][C/bx][H][W][bx] and
// y [N][K/by][P][Q][by], bx 8 or 16, by 8, 16 or 1 (plain NCHW: the
// training path writes its output where the caller wants it, without a
// reorder; no `add` then); w is the plain [K][C][3][3] tensor, bias [K] or
// null; add (a residual shortcut) null or laid out as y, and may be y
// itself; filters: w prepared for a geometry with the same planes, or null.
// Requires winograd_applies(g). With `pool` (where winograd_forward_pools,
// no add), y is the max pooling of that output, [N][K/by][P/2][Q/2][by]:
// each 4x4 output tile pools to its own 2x2 in the output transform, so the
// convolution's output is never written (SimpleCNN's second layer).
void winograd_conv_forward_blocked(const ConvGeometry& g, int bx, const float* x, const float* w, const float* bias,
                                   ConvPost post, const float* add, int by, float* y,
                                   const WinogradFilters* filters = nullptr, const PoolGeometry* pool = nullptr);
// Whether g's forward can take the 2x2 stride-2 max pooling p into its
// output transform: F(4x4) tiles (even, so tiles pool on their own), not
// wide, a blocked output (by 8 or 16).
bool winograd_forward_pools(const ConvGeometry& g, const PoolGeometry& p, int by);

// The input gradient of the same convolution: dx = conv(dy, w flipped and
// transposed) with padding 2 - pad, when winograd_applies to that geometry
// (winograd_backward_data_geometry); dy [N][K/by][P][Q][by], dx overwritten
// (bx 1: plain NCHW), plus `add` (same layout) when given.
ConvGeometry winograd_backward_data_geometry(const ConvGeometry& g);
void winograd_conv_backward_data_blocked(const ConvGeometry& g, int by, const float* dy, const float* w, int bx,
                                         float* dx, const float* add = nullptr);

// The weight gradient dw [K][C][3][3] (and db [K] unless null) from x and
// dy in those layouts, both overwritten: every tile's V and (A dy A^T)
// multiplied and summed over tiles, then G^T (.) G once per filter.
void winograd_conv_backward_weights_blocked(const ConvGeometry& g, int bx, const float* x, int by, const float* dy,
                                            float* dw, float* db);

// Whether the CPU backend uses it: Off; On, wherever winograd_applies
// (chains, forward, both gradients); or Rule, only forwards where
// winograd_forward_suits. On by default where oneDNN's float32 kernels are
// AVX2 (there ours were 1.2-3x faster); Rule where they are AVX-512 (there
// oneDNN's direct kernels beat our 8-float kernels everywhere, and our
// 16-float forward only on narrow layers). PERCEPTRA_WINOGRAD=0 turns it
// off, =1/2/4 on; tests compare them.
enum class WinogradUse { Off, Rule, On };
void set_cpu_winograd(WinogradUse use);
inline void set_cpu_winograd(bool on) { set_cpu_winograd(on ? WinogradUse::On : WinogradUse::Off); }
WinogradUse cpu_winograd_use();
bool cpu_winograd();  // On
// Whether a forward from bx-blocked x into by-blocked y runs ours: always
// under On; under Rule where our 16-float F(4x4) kernel beat oneDNN (direct,
// or its own Winograd): nChw16c in and out, 16 to 64 channels, planes of at
// least 7 x 7 (kernels alone, 2 threads: 1.24x at 16 channels 28 x 28 batch
// 32, 1.31x 32 at 14 x 14, 1.39x 64 at 7 x 7, 1.06x ResNet-18's 64 at 56 x 56
// batch 8); wider layers stay with oneDNN. A fixed rule, not a timing.
// filters_held: as winograd_applies.
bool winograd_forward_suits(const ConvGeometry& g, int bx, int by, bool filters_held = false);

// The forward's (and input gradient's) output tile for g: 4, F(4x4, 3x3) on
// 6x6 patches, 4x fewer multiply-adds than direct, on planes of at least
// 16 x 16, or of 7 x 7 for the 16-float kernel; else 2, F(2x2, 3x3) (bench_winograd, 2 threads: 16->16 at 28x28
// 1.58x oneDNN vs 1.18x, 64->64 at 56x56 1.77x vs 1.46x; 32->64 at 14x14
// 1.23x vs 1.37x, 64->64 at 7x7 0.71x vs 1.04x). A fixed rule, not timed.
// set_winograd_tile(2 or 4) (PERCEPTRA_WINOGRAD=2 or 4) forces one, 0 the
// rule. The weight gradient uses F(4x4)'s transposed algorithm on every
// plane (faster there even at 7x7) unless a tile is forced.
void set_winograd_tile(int m);
int winograd_tile_for(const ConvGeometry& g);
// The forward runs 16-float vectors where the build targets AVX-512 and x
// and y are nChw16c (or y plain NCHW) with C and K multiples of 16, else
// 8; set_winograd_width(8) forces 8 (tests compare the two), 0 the rule.
void set_winograd_width(int w);

// Convolutions it has computed since start-up, and of those the forwards
// on 16-float vectors (tests check that a path really used it).
long winograd_calls();
long winograd_calls16();

}  // namespace perceptra
