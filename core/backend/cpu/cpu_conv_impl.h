#pragma once
// Which convolution kernels the CPU backend uses.
//  Auto:   per shape and pass, whichever of oneDNN and im2col + sgemm measured
//          faster the first time the shape was seen (cpu_conv_choice.cpp).
//          oneDNN's jit kernels win most shapes, but not all: on a 1-channel
//          first layer its weight gradient ran 3.8x slower than im2col here.
//          Opt-in: two processes can decide a near-tie differently, and their
//          results then differ by float rounding (the studio's int8 export
//          and the CLI's wrote different scales in 2 of 4 runs under load).
//  OneDnn: oneDNN primitives wherever they apply (grouped and depthwise too),
//          except one-channel weight gradients (im2col, 3.8x faster there;
//          one_channel_weight_gradient_on_im2col). The default.
//  Im2col: the reference path everywhere (tests compare the paths).
// PERCEPTRA_CONV=auto|onednn|im2col in the environment selects one at start-up.
// Inference chains (conv2d_chain_forward) use oneDNN unless Im2col: their
// point is the blocked layout between links. Wherever oneDNN runs, 3x3
// stride-1 forwards and gradients of up to 64 x 64 channels go to our
// Winograd kernel instead, in oneDNN's layouts (cpu_winograd.h).
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/backend/backend.h"

namespace perceptra {

enum class CpuConvImpl { Auto, OneDnn, Im2col };
void set_cpu_conv_impl(CpuConvImpl impl);
CpuConvImpl cpu_conv_impl();
// What the process starts with: PERCEPTRA_CONV's choice, else OneDnn.
CpuConvImpl default_cpu_conv_impl();

// oneDNN paths; false when not applicable (the caller then uses im2col).
// post: an activation applied as a oneDNN post-op while the output is still
// in registers (y = relu(conv + bias), or min(max(conv + bias, 0), 6)).
bool dnnl_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                       ConvPost post = ConvPost::None);
// The backend's conv2d_chain_forward with the links' outputs kept in the
// blocked layout oneDNN chose; false when a link has no oneDNN equivalent.
// Runs on sub-batches whose link outputs together take at most `bytes` (see
// cpu_conv_dnnl.cpp; settable for tests).
bool dnnl_conv_chain_forward(int n, const ConvLink* links, const float* x, float* y);
// Where dnnl_conv_chain_forward splits a chain in two (0: nowhere): when
// the chain's sub-batch is under 8 images, the first link k > 0 after which
// the rest (links k..n-1) would run at least twice the images per call and
// reads more filter bytes than one sub-batch's outputs, with no shortcut
// reaching back across k and the boundary in whole 16-channel blocks.
int conv_chain_split(int n, const ConvLink* links);
constexpr size_t kConvChainBytes = size_t(16) << 20;
void set_conv_chain_bytes(size_t bytes);
// Backward: the weight (and bias) gradient when dw, the input gradient when
// dx (either may be null; db only with dw). dx_add: added into dx where the
// input gradient's kernel can do it as it writes (Winograd), then *added is
// set; otherwise left to the caller.
bool dnnl_conv_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy, float* dx, float* dw,
                        float* db, const float* dx_add = nullptr, bool* added = nullptr);

// OneDnn's one fixed exception: true when this weight gradient runs on im2col.
bool one_channel_weight_gradient_on_im2col(const ConvGeometry& g);

// A one-channel convolution's weight (and bias, when db) gradient from a
// channel-blocked dy (cpu_conv_one_channel.cpp), where OneDnn's exception
// above would reorder dy for im2col; false when g is not that case.
bool one_channel_blocked_weight_gradient(const ConvGeometry& g, const float* x, const float* dy, float* dw, float* db);

// A one-channel convolution's forward (with its post-op) into a
// channel-blocked y (cpu_conv_one_channel.cpp): a first layer on grey images,
// where oneDNN's kernel is slow, float32 only; false when g or the
// precision is not that case.
bool one_channel_blocked_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                                 ConvPost post, float* y);

// The input gradient of a strided 1x1 convolution (no padding, ungrouped)
// whose dy and dx share a channel block of 8 or 16 (cpu_conv_pointwise.cpp):
// W^T dy on the sampled grid, zeros between, written straight into dx's
// layout. oneDNN's kernel is the slow part there; its other passes stay.
bool pointwise_strided_backward_data_applies(const ConvGeometry& g, int dy_block);
void pointwise_strided_backward_data_blocked(const ConvGeometry& g, const float* dy, const float* w, float* dx);

// The im2col + sgemm reference (cpu_conv.cpp), post-op not included.
void im2col_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y);
void im2col_conv_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy, float* dx, float* dw,
                          float* db);

// ---- Auto's measured choice (cpu_conv_choice.cpp) ----
// A shape and pass: the geometry with N capped (every batch from the cap up
// shares one choice; smaller ones are timed at their own size, as the winner
// can change with N), and what the pass computes.
struct ConvChoiceKey {
  ConvGeometry g;
  // The weight and input gradients are separate choices, so the weight
  // gradient's kernel (and bits) never depend on whether dx is wanted.
  enum Pass { Forward, ForwardReLU, ForwardReLU6, BackwardWeights, BackwardData } pass = Forward;
  bool bias = false;  // forward: bias added (gradients ignore it)
};
constexpr int kConvTrialBatch = 128;
// ... and at most as many images as keep the trial's input or output within
// this (its temporaries are live on top of the step's own).
constexpr size_t kConvTrialBytes = size_t(16) << 20;
ConvChoiceKey conv_choice_key(const ConvGeometry& g, ConvChoiceKey::Pass pass, bool bias);

struct ConvChoice {
  ConvChoiceKey key;
  bool onednn = true;
  double onednn_ms = 0, im2col_ms = 0;  // best trial times; onednn_ms 0 when oneDNN refused the shape
};
// The remembered choice for a key, if any.
std::optional<bool> conv_choice_cached(const ConvChoiceKey& key);
// Times both sides on the key's trial batch and remembers the faster:
// each runs once untimed (primitive creation, caches), then they alternate
// kConvTrials times (once when im2col's first run took over 100 ms) and the
// best of each counts. oneDNN keeps the shape unless
// im2col is at least 10 % faster, so near-ties do not flip between runs.
// `onednn` returns false when oneDNN refuses the shape (im2col then, untimed).
// An empty `im2col` (its column buffers would exceed kConvTrialColBytes)
// keeps oneDNN untimed: a trial must not cost more memory than the step.
bool conv_choice_measure(const ConvChoiceKey& key, const std::function<bool()>& onednn,
                         const std::function<void()>& im2col);
constexpr int kConvTrials = 3;
constexpr size_t kConvTrialColBytes = size_t(64) << 20;
// Every choice made so far (bench_train --profile prints them), and a reset
// for tests.
std::vector<ConvChoice> conv_choices();
void conv_choices_clear();
std::string conv_choice_pass_name(ConvChoiceKey::Pass pass);

// oneDNN's own Winograd F(4x4, 3x3) kernels (AVX-512 only; elsewhere oneDNN
// refuses them and its direct kernels run) for the passes where they measured
// faster than its direct ones: 3x3, stride 1, float32, at least 32 channels
// in and out, batches of 8 or more with N x ceil(P/4) x ceil(Q/4) >= 128
// output tiles (enough rows for its batched products); weight gradients only
// from 64 channels on planes of 14 x 14 and up. Per primitive
// (ONEDNN_VERBOSE, 2 threads, Winograd / direct time): ResNet-18 at batch 16,
// 64 channels at 56x56 0.72 / 0.70 / 0.62 (forward / input / weight
// gradient), 128 at 28x28 0.59 / 0.52 / 0.56, 256 at 14x14 0.47 / 0.52 /
// 0.58, but 512 at 7x7 1.23 / 0.77 / 2.11 (64 tiles); ResNet-small at batch
// 128, 32 at 14x14 0.90 / 0.89 / 1.64, 64 at 7x7 0.73 / 0.68 / 1.02, 16 at
// 28x28 1.0 / 1.0 / 1.19. Single images (ResNet-18's inference chains at
// 56x56) ran slower end to end although the primitive timed faster. A fixed
// rule, not a timing, so two processes compute the same bits.
// PERCEPTRA_DNNL_WINOGRAD=0 (or set_dnnl_winograd(false)) turns it off.
// Where oneDNN's Winograd would want a scratchpad over
// kMaxWinogradScratchpadBytes the direct kernels run instead: on large
// planes it transforms the whole batch at once (128 channels at 112x112,
// batch 32: 890 MB; 256 at 56x56: 456 MB), memory the cost estimate does
// not count and a step should not need. ResNet-18's layers at batch 16 want
// 8-53 MB (128 at 28x28: 36, 256 at 14x14: 33 / 53 for the weight
// gradient), and the scratchpad is one buffer per thread, grown to the
// largest (cpu_dnnl_scratchpad.h).
bool dnnl_winograd_suits(const ConvGeometry& g, ConvChoiceKey::Pass pass);
constexpr size_t kMaxWinogradScratchpadBytes = size_t(64) << 20;
void set_dnnl_winograd(bool on);
bool dnnl_winograd();
// The oneDNN implementations g's forward (no post-op), input-gradient and
// weight-gradient primitives get (impl_info_str: "jit_wino_4x3:avx512_core",
// "jit:avx512_core", ...); empty where oneDNN is not used. Made afresh, not
// cached: for tests and profiles.
struct DnnlConvImpls {
  std::string forward, backward_data, backward_weights;
};
DnnlConvImpls dnnl_conv_impls(const ConvGeometry& g);

}  // namespace perceptra
