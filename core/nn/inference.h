#pragma once
// Inference-only forward (Model::infer): the same function as an eval-mode
// forward, computed with fewer passes over memory. A Conv2d followed by an
// eval-mode BatchNorm2d runs as one convolution with the normalisation folded
// into its weights and bias, and a ReLU or ReLU6 right after it runs as the
// convolution's post-op. Convolutions that follow each other directly (a
// residual branch, MobileNetV2's expand / depthwise / project; SimpleCNN's
// conv-relu-maxpool pairs, a max pooling being part of a link) run as one
// backend chain whose intermediate outputs stay in the backend's own layout.
// A residual block whose branch is such a chain ending in a convolution,
// with an identity or conv + BatchNorm2d shortcut, joins the chain whole
// (ResNet-small's stem and six blocks are one chain). A Linear followed by a
// ReLU or ReLU6 runs as one matmul with the activation as its post-op.
// Nothing is cached for backward, so saliency and
// Grad-CAM (which need backward) use forward(x, false) instead.
#include <vector>

#include "core/nn/layer.h"

namespace perceptra {

// Runs layers[0..n) on x for inference, fusing where the pattern allows.
Tensor infer_layers(const std::vector<LayerPtr>& layers, const Tensor& x);

// Fusion on/off (default on; PERCEPTRA_FUSE=0 in the environment turns it
// off at start-up). Off, infer() is exactly forward(x, false) layer by layer.
void set_inference_fusion(bool on);
bool inference_fusion();

}  // namespace perceptra
