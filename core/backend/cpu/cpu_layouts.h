#pragma once
// Operands in the layout a CPU kernel wants: for one call, in a temporary
// (as_layout); or weights prepared once per held pass (WeightsHeld,
// backend.h) and thread, kept until the hold ends (held_weights): oneDNN's
// packed Linear weights, our GEMM's panels, a chain's reordered convolution
// weights. Held copies are keyed by address and layout: held weights keep
// their address (batch norm folds included, Conv2d::fold) and nothing
// writes them.
#include <dnnl.hpp>

#include <functional>

#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

// `user` as a kernel wants it: itself when the layouts match, else a
// temporary in `t` (filled by cpu_reorder when copy_in).
dnnl::memory as_layout(const dnnl::memory::desc& want, const dnnl::memory& user, bool copy_in, CpuScratch& t,
                       dnnl::stream& s);

// Outside a hold: an empty memory (callers prepare their own copy).
// Inside: w's copy in `layout`, written by `fill` on this thread's first
// request of the pass.
dnnl::memory held_weights(const float* w, const dnnl::memory::desc& layout,
                          const std::function<void(const dnnl::memory& to)>& fill);

}  // namespace perceptra
