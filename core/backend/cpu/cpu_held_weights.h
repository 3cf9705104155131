#pragma once
// Weights in the layout a CPU kernel wants, prepared once per held pass
// (WeightsHeld, backend.h) and thread, and kept until the hold ends: oneDNN's
// packed Linear weights, our GEMM's panels, a chain's reordered convolution
// weights. Keyed by address and layout: held weights keep their address
// (batch norm folds included, Conv2d::fold) and nothing writes them.
#include <dnnl.hpp>

#include <functional>

namespace perceptra {

// Outside a hold: an empty memory (callers prepare their own copy).
// Inside: w's copy in `layout`, written by `fill` on this thread's first
// request of the pass.
dnnl::memory held_weights(const float* w, const dnnl::memory::desc& layout,
                          const std::function<void(const dnnl::memory& to)>& fill);

}  // namespace perceptra
