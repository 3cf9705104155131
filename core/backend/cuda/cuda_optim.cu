// Fused optimizer updates of the CUDA backend (twin: cpu/cpu_optim.cpp).
#include "core/backend/cuda/cuda_kernel.cuh"

namespace perceptra::cuda {

namespace {

__global__ void sgd_k(float* w, const float* g, float* v, size_t n, m::SgdArgs a) {
  GRID_STRIDE(i, n) m::sgd_step(w, g, v, i, a);
}
__global__ void adam_k(float* w, const float* g, float* mm, float* v, size_t n, m::AdamArgs a) {
  GRID_STRIDE(i, n) m::adam_step(w, g, mm, v, i, a);
}

}  // namespace

void CudaBackend::sgd_update(float* w, const float* g, float* v, size_t n, float lr, float momentum, float dampening,
                             float weight_decay, bool nesterov, bool first_step) {
  if (!n) return;
  activate();
  m::SgdArgs a{lr, momentum, dampening, weight_decay, nesterov, first_step};
  sgd_k<<<blocks_for(n), kThreads, 0, stream_>>>(w, g, v, n, a);
  PCUDA_LAUNCH("sgd_k");
}

void CudaBackend::adam_update(float* w, const float* g, float* mm, float* v, size_t n, float lr, float beta1,
                              float beta2, float eps, float weight_decay, bool decoupled, int64_t step) {
  if (!n) return;
  activate();
  m::AdamArgs a = m::make_adam_args(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  adam_k<<<blocks_for(n), kThreads, 0, stream_>>>(w, g, mm, v, n, a);
  PCUDA_LAUNCH("adam_k");
}

}  // namespace perceptra::cuda
