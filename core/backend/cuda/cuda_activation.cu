// Activations of the CUDA backend (twin: cpu/cpu_activation.cpp).
#include "core/backend/cuda/cuda_kernel.cuh"

namespace perceptra::cuda {

namespace {

__global__ void act_forward_k(Activation a, float alpha, const float* x, float* y, size_t n) {
  GRID_STRIDE(i, n) y[i] = m::activation_forward(a, alpha, x[i]);
}
__global__ void act_backward_k(Activation a, float alpha, const float* x, const float* y, const float* dy, float* dx,
                               size_t n) {
  // y is only read by sigmoid/tanh (callers may pass null otherwise).
  const bool need_y = a == Activation::Sigmoid || a == Activation::Tanh;
  GRID_STRIDE(i, n) dx[i] = m::activation_backward(a, alpha, x[i], need_y ? y[i] : 0.f, dy[i]);
}

}  // namespace

void CudaBackend::activation_forward(Activation a, float alpha, const float* x, float* y, size_t n) {
  if (!n) return;
  activate();
  act_forward_k<<<blocks_for(n), kThreads, 0, stream_>>>(a, alpha, x, y, n);
  PCUDA_LAUNCH("act_forward_k");
}

void CudaBackend::activation_backward(Activation a, float alpha, const float* x, const float* y, const float* dy,
                                      float* dx, size_t n) {
  if (!n) return;
  activate();
  act_backward_k<<<blocks_for(n), kThreads, 0, stream_>>>(a, alpha, x, y, dy, dx, n);
  PCUDA_LAUNCH("act_backward_k");
}

}  // namespace perceptra::cuda
