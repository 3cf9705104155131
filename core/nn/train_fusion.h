#pragma once
// Training forward (Model::forward) with fewer passes over memory: a Conv2d
// followed directly by a ReLU runs as one convolution with the ReLU as its
// post-op (applied while the output is still in registers), and the ReLU
// layer keeps that output for its backward: ReLU's gradient mask x > 0 is
// the same as y > 0, so gradients are exactly those of the layer-by-layer
// forward. Saves a read and a write of the convolution's output per step.
// A Linear followed by a ReLU runs the same way (one matmul with the ReLU
// as its post-op).
// A ReLU followed by a max pooling has its backward mask applied by the
// pooling to the pooled gradient (a quarter of the elements for 2x2), which
// at each window's argmax is the same mask: gradients stay exact. A batch
// norm followed by a ReLU applies it as it writes its output, and masks its
// own backward's gradient by that output (BatchNorm::forward_relu). Where the
// backend fuses it (Backend::fuses_conv_relu_maxpool: the CPU's one-channel
// first layers), conv + ReLU + 2x2 max pooling run as one op that never
// writes the convolution's output; the ReLU keeps the pooled output (its
// mask deferred) and the pooling hands the pooled gradient back to the
// convolution (Conv2d::forward_relu_maxpool). A residual block whose branch
// ends in a batch norm adds its shortcut and applies its ReLU in that batch
// norm's forward (BatchNorm::forward_add, core/nn/residual.cpp).
#include <vector>

#include "core/nn/layer.h"

namespace perceptra {

// Runs layers[0..n) forward, fusing where the pattern allows (training only;
// an eval-mode forward keeps every layer's own caches as they were).
Tensor forward_layers(const std::vector<LayerPtr>& layers, const Tensor& x, bool training);
// The first `count` of them (a residual branch whose last batch norm takes
// the block's sum, core/nn/residual.cpp).
Tensor forward_layers(const std::vector<LayerPtr>& layers, size_t count, const Tensor& x, bool training);

// On by default; PERCEPTRA_FUSE=0 in the environment turns it off at
// start-up, with the inference fusion (core/nn/inference.h).
void set_training_fusion(bool on);
bool training_fusion();

}  // namespace perceptra
