#pragma once
// What a model costs per image, read from its spec without building its
// weights: parameter counts, forward FLOPs, and the floats a training step
// and an inference pass keep alive per sample. The layers are built in
// analyse-only mode (no parameter memory is touched) and walked with the
// shapes flowing through them, residual blocks included. core/train's cost
// estimate turns these per-sample numbers into bytes for a batch.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor/shape.h"

namespace perceptra {

struct ModelCost {
  Shape input;  // per sample [C,H,W]
  int classes = 0;
  int64_t parameters = 0;    // trainable elements (weights, biases, BN affine)
  int64_t buffers = 0;       // other stored elements (BN running statistics)
  double forward_flops = 0;  // per image: 2 x multiply-adds of conv/linear, + elementwise
  // Floats per sample held from a training forward until its backward
  // (every cached input/output, argmaxes, masks, the logits): the
  // activation memory of a step.
  int64_t train_kept_floats = 0;
  // Floats per sample alive on top of those at the worst moment of the
  // backward pass (dL/dy and dL/dx of one layer, their blocked-layout copies).
  int64_t train_transient_floats = 0;
  // Floats per sample alive at the worst layer of an inference pass (its
  // input, output and blocked-layout copies).
  int64_t infer_peak_floats = 0;
  // Floats per sample one training step allocates in all (every output,
  // gradient and blocked-layout temporary). The CPU backend keeps freed
  // blocks for reuse by exact size, so a step's peak resident memory is
  // close to this, up to the cache's bound.
  int64_t train_alloc_floats = 0;
  int64_t largest_activation_floats = 0;  // the biggest single layer output, per sample
  std::string largest_layer;              // its name ("conv0")
};

// Throws InputError (naming the layer) for a spec that does not fit
// together, as Model::from_spec would.
ModelCost model_cost(const nlohmann::json& spec);

}  // namespace perceptra
