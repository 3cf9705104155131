#pragma once
// Winograd F(2x2, 3x3) convolution of channel-blocked tensors (oneDNN's
// nChw8c / nChw16c), used by the CPU backend for 3x3 stride-1
// convolutions: forward, input and weight gradients (cpu_winograd.cpp). Each 2x2 output tile costs 16 products
// per channel pair instead of 36: 2.25x fewer multiply-adds than a direct
// convolution. oneDNN 2.6 has Winograd kernels only for AVX-512.
#include "core/backend/backend.h"

namespace perceptra {

// True when `g` is a convolution this kernel computes: 3x3, stride 1,
// dilation 1, one group, C and K multiples of 8, and transformed weights
// (16 x C x K floats) small enough to stay in L2 (C * K <= 64 * 64).
bool winograd_applies(const ConvGeometry& g);

// y = post(conv(x, w) + bias [+ add]) with x [N][C/bx][H][W][bx] and
// y [N][K/by][P][Q][by], bx and by 8 or 16; w is the plain [K][C][3][3]
// tensor, bias [K] or null; add (a residual shortcut) null or laid out as y,
// and may be y itself. Requires winograd_applies(g).
void winograd_conv_forward_blocked(const ConvGeometry& g, int bx, const float* x, const float* w, const float* bias,
                                   ConvPost post, const float* add, int by, float* y);

// The input gradient of the same convolution: dx = conv(dy, w flipped and
// transposed) with padding 2 - pad, when winograd_applies to that geometry
// (winograd_backward_data_geometry); dy [N][K/by][P][Q][by], dx overwritten.
ConvGeometry winograd_backward_data_geometry(const ConvGeometry& g);
void winograd_conv_backward_data_blocked(const ConvGeometry& g, int by, const float* dy, const float* w, int bx,
                                         float* dx);

// The weight gradient dw [K][C][3][3] (and db [K] unless null) from x and
// dy in those layouts, both overwritten: every tile's V and (A dy A^T)
// multiplied and summed over tiles, then G^T (.) G once per filter.
void winograd_conv_backward_weights_blocked(const ConvGeometry& g, int bx, const float* x, int by, const float* dy,
                                            float* dw, float* db);

// Whether the CPU backend uses it (chains, forward, input gradients) (on by default; PERCEPTRA_WINOGRAD=0 in
// the environment turns it off; tests compare both).
void set_cpu_winograd(bool on);
bool cpu_winograd();
// Convolutions it has computed since start-up (tests check that a path
// really used it).
long winograd_calls();

}  // namespace perceptra
