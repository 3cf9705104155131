#pragma once
// Winograd F(2x2, 3x3) convolution of channel-blocked tensors (oneDNN's
// nChw8c / nChw16c), used by the CPU backend for 3x3 stride-1
// convolutions: forward, input and weight gradients (cpu_winograd.cpp). Each 2x2 output tile costs 16 products
// per channel pair instead of 36: 2.25x fewer multiply-adds than a direct
// convolution. oneDNN 2.6 has Winograd kernels only for AVX-512.
#include "core/backend/backend.h"
#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

// True when `g` is a convolution this kernel computes: 3x3, stride 1,
// dilation 1, one group, C and K multiples of 8, C * K <= 512 * 512 (past
// 64 * 64 the products are sgemm calls over large chunks of tiles, and the
// batch must give at least C * K / 1024 tiles to pay for the filters').
bool winograd_applies(const ConvGeometry& g);

// A convolution's transformed filters, for calls that share them (an
// inference chain's sub-batches: ResNet-18 at 224 runs one image at a time,
// and transforming its filters per image made inference 13 % slower).
struct WinogradFilters {
  int tile = 0;  // 0: not prepared
  CpuScratch U;
};
void winograd_prepare_filters(const ConvGeometry& g, const float* w, WinogradFilters& f);

// y = post(conv(x, w) + bias [+ add]) with x [N][C/bx][H][W][bx] and
// y [N][K/by][P][Q][by], bx 8 or 16, by 8, 16 or 1 (plain NCHW: the
// training path writes its output where the caller wants it, without a
// reorder; no `add` then); w is the plain [K][C][3][3] tensor, bias [K] or
// null; add (a residual shortcut) null or laid out as y, and may be y
// itself; filters: w prepared for a geometry with the same planes, or null.
// Requires winograd_applies(g).
void winograd_conv_forward_blocked(const ConvGeometry& g, int bx, const float* x, const float* w, const float* bias,
                                   ConvPost post, const float* add, int by, float* y,
                                   const WinogradFilters* filters = nullptr);

// The input gradient of the same convolution: dx = conv(dy, w flipped and
// transposed) with padding 2 - pad, when winograd_applies to that geometry
// (winograd_backward_data_geometry); dy [N][K/by][P][Q][by], dx overwritten
// (bx 1: plain NCHW).
ConvGeometry winograd_backward_data_geometry(const ConvGeometry& g);
void winograd_conv_backward_data_blocked(const ConvGeometry& g, int by, const float* dy, const float* w, int bx,
                                         float* dx);

// The weight gradient dw [K][C][3][3] (and db [K] unless null) from x and
// dy in those layouts, both overwritten: every tile's V and (A dy A^T)
// multiplied and summed over tiles, then G^T (.) G once per filter.
void winograd_conv_backward_weights_blocked(const ConvGeometry& g, int bx, const float* x, int by, const float* dy,
                                            float* dw, float* db);

// Whether the CPU backend uses it (chains, forward, gradients): on by
// default where oneDNN's float32 kernels are AVX2 (there ours were 1.2-3x
// faster), off where they are AVX-512 (there oneDNN's direct kernels won);
// PERCEPTRA_WINOGRAD=0 turns it off, =1/2/4 on; tests compare both.
void set_cpu_winograd(bool on);
bool cpu_winograd();
// The forward's (and input gradient's) output tile for g: 4, F(4x4, 3x3) on
// 6x6 patches, 4x fewer multiply-adds than direct, on planes of at least
// 16 x 16; else 2, F(2x2, 3x3) (bench_winograd, 2 threads: 16->16 at 28x28
// 1.58x oneDNN vs 1.18x, 64->64 at 56x56 1.77x vs 1.46x; 32->64 at 14x14
// 1.23x vs 1.37x, 64->64 at 7x7 0.71x vs 1.04x). A fixed rule, not timed.
// set_winograd_tile(2 or 4) (PERCEPTRA_WINOGRAD=2 or 4) forces one, 0 the
// rule. The weight gradient uses F(4x4)'s transposed algorithm on every
// plane (faster there even at 7x7) unless a tile is forced.
void set_winograd_tile(int m);
int winograd_tile_for(const ConvGeometry& g);

// Convolutions it has computed since start-up (tests check that a path
// really used it).
long winograd_calls();

}  // namespace perceptra
