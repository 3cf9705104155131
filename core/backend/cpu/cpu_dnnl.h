#pragma once
// What the CPU backend's oneDNN users share: one CPU engine for the process
// (convolutions, bf16 matmuls, int8 inference), and whether oneDNN's kernels
// on this machine include an ISA (ONEDNN_MAX_CPU_ISA can lower what it uses).
#include <dnnl.h>

#include "core/backend/backend.h"

namespace dnnl {
struct engine;
struct memory;
struct post_ops;
struct stream;
}  // namespace dnnl

namespace perceptra {

dnnl::engine& cpu_dnnl_engine();
// Every cache of oneDNN primitives keys them by the OpenMP thread count
// (cpu_threads()) too, as oneDNN's own cache does: a primitive sizes its
// per-thread scratch for the threads it was created with, and the thread
// that prepares a run (omp_set_num_threads is per thread) need not be the
// one that trains it. Their scratchpads: cpu_dnnl_scratchpad.h.
// True when oneDNN's effective ISA includes every feature of `isa`
// (e.g. dnnl_cpu_isa_avx512_core: its AVX-512 kernels run here).
bool cpu_isa_has(dnnl_cpu_isa_t isa);
// A convolution's or Linear layer's activation as oneDNN's eltwise post-op
// (ReLU; ReLU6 as clip to [0, 6]; None appends nothing).
void append_post_activation(dnnl::post_ops& ops, ConvPost post);
// dnnl::reorder(from, to), except that float32 <-> bf16 in one layout is
// our elementwise conversion (cpu_bf16.cpp), rounding as oneDNN does (to
// nearest even; NaN stays NaN): oneDNN 2.6's jit:uni reorder ran it at
// ~3 GB/s here, 780 ms of MobileNetV2's 1,560 ms bf16 training steps.
void cpu_reorder(const dnnl::memory& from, const dnnl::memory& to, dnnl::stream& s);
// Whether cpu_reorder converts from `a` to `b` itself (float32 <-> bf16, one
// dense layout).
bool cpu_reorder_elementwise(const dnnl_memory_desc_t& a, const dnnl_memory_desc_t& b);

}  // namespace perceptra
