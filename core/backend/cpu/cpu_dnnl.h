#pragma once
// What the CPU backend's oneDNN users share: one CPU engine for the process
// (convolutions, bf16 matmuls, int8 inference), and whether oneDNN's kernels
// on this machine include an ISA (ONEDNN_MAX_CPU_ISA can lower what it uses).
#include <dnnl.h>

namespace dnnl {
struct engine;
}

namespace perceptra {

dnnl::engine& cpu_dnnl_engine();
// True when oneDNN's effective ISA includes every feature of `isa`
// (e.g. dnnl_cpu_isa_avx512_core: its AVX-512 kernels run here).
bool cpu_isa_has(dnnl_cpu_isa_t isa);

}  // namespace perceptra
