// Pooling of the CUDA backend (twin: cpu/cpu_pool.cpp). Backward kernels
// gather per input pixel, so they need no atomics and sum in the CPU's order.
#include "core/backend/cuda/cuda_kernel.cuh"
#include "core/tensor/error.h"

namespace perceptra::cuda {

namespace {

__global__ void maxpool_fwd_k(PoolGeometry g, const float* x, float* y, size_t total) {
  GRID_STRIDE(i, total) {
    const size_t plane = i / ((size_t)g.P * g.Q);
    const int pq = static_cast<int>(i % ((size_t)g.P * g.Q));
    y[i] = m::maxpool_window(g, x + plane * g.H * g.W, pq / g.Q, pq % g.Q);
  }
}
__global__ void maxpool_bwd_k(PoolGeometry g, const float* x, const float* y, const float* dy, float* dx,
                              size_t total) {
  GRID_STRIDE(i, total) {
    const size_t plane = i / ((size_t)g.H * g.W);
    const int hw = static_cast<int>(i % ((size_t)g.H * g.W));
    dx[i] = m::maxpool_backward_pixel(g, x + plane * g.H * g.W, y + plane * g.P * g.Q, dy + plane * g.P * g.Q, hw / g.W,
                                      hw % g.W);
  }
}
__global__ void maxpool_fwd_argmax_k(PoolGeometry g, const float* x, float* y, float* argmax, size_t total) {
  GRID_STRIDE(i, total) {
    const size_t plane = i / ((size_t)g.P * g.Q);
    const int pq = static_cast<int>(i % ((size_t)g.P * g.Q));
    int offset = 0;
    y[i] = m::maxpool_window_argmax(g, x + plane * g.H * g.W, pq / g.Q, pq % g.Q, offset);
    argmax[i] = static_cast<float>(offset);
  }
}
__global__ void maxpool_bwd_argmax_k(PoolGeometry g, const float* argmax, const float* dy, float* dx, size_t total) {
  GRID_STRIDE(i, total) {
    const size_t plane = i / ((size_t)g.H * g.W);
    const int hw = static_cast<int>(i % ((size_t)g.H * g.W));
    dx[i] = m::maxpool_backward_argmax_pixel(g, argmax + plane * g.P * g.Q, dy + plane * g.P * g.Q, hw / g.W, hw % g.W);
  }
}
__global__ void avgpool_fwd_k(PoolGeometry g, const float* x, float* y, size_t total) {
  GRID_STRIDE(i, total) {
    const size_t plane = i / ((size_t)g.P * g.Q);
    const int pq = static_cast<int>(i % ((size_t)g.P * g.Q));
    y[i] = m::avgpool_window(g, x + plane * g.H * g.W, pq / g.Q, pq % g.Q);
  }
}
__global__ void avgpool_bwd_k(PoolGeometry g, const float* dy, float* dx, size_t total) {
  GRID_STRIDE(i, total) {
    const size_t plane = i / ((size_t)g.H * g.W);
    const int hw = static_cast<int>(i % ((size_t)g.H * g.W));
    dx[i] = m::avgpool_backward_pixel(g, dy + plane * g.P * g.Q, hw / g.W, hw % g.W);
  }
}
__global__ void gap_fwd_k(const float* x, float* y, int planes, int hw) {
  GRID_STRIDE(pl, (size_t)planes) {
    const float* xp = x + pl * hw;
    float s = 0.f;
    for (int i = 0; i < hw; ++i) s += xp[i];
    y[pl] = s / hw;
  }
}
__global__ void gap_bwd_k(const float* dy, float* dx, int hw, size_t total) {
  GRID_STRIDE(i, total) dx[i] = dy[i / hw] / hw;
}

}  // namespace

void CudaBackend::maxpool2d_forward(const PoolGeometry& g, const float* x, float* y) {
  const size_t total = (size_t)g.N * g.C * g.P * g.Q;
  if (!total) return;
  activate();
  maxpool_fwd_k<<<blocks_for(total), kThreads, 0, stream_>>>(g, x, y, total);
  PCUDA_LAUNCH("maxpool_fwd_k");
}

void CudaBackend::maxpool2d_backward(const PoolGeometry& g, const float* x, const float* y, const float* dy,
                                     float* dx) {
  const size_t total = (size_t)g.N * g.C * g.H * g.W;
  if (!total) return;
  activate();
  maxpool_bwd_k<<<blocks_for(total), kThreads, 0, stream_>>>(g, x, y, dy, dx, total);
  PCUDA_LAUNCH("maxpool_bwd_k");
}

void CudaBackend::maxpool2d_forward_argmax(const PoolGeometry& g, const float* x, float* y, float* argmax) {
  PCHECK(g.block == 1, "the CUDA backend keeps activations in NCHW");
  const size_t total = (size_t)g.N * g.C * g.P * g.Q;
  if (!total) return;
  activate();
  maxpool_fwd_argmax_k<<<blocks_for(total), kThreads, 0, stream_>>>(g, x, y, argmax, total);
  PCUDA_LAUNCH("maxpool_fwd_argmax_k");
}

void CudaBackend::maxpool2d_backward_argmax(const PoolGeometry& g, const float* argmax, const float* dy, float* dx) {
  PCHECK(g.block == 1, "the CUDA backend keeps activations in NCHW");
  const size_t total = (size_t)g.N * g.C * g.H * g.W;
  if (!total) return;
  activate();
  maxpool_bwd_argmax_k<<<blocks_for(total), kThreads, 0, stream_>>>(g, argmax, dy, dx, total);
  PCUDA_LAUNCH("maxpool_bwd_argmax_k");
}

void CudaBackend::avgpool2d_forward(const PoolGeometry& g, const float* x, float* y) {
  const size_t total = (size_t)g.N * g.C * g.P * g.Q;
  if (!total) return;
  activate();
  avgpool_fwd_k<<<blocks_for(total), kThreads, 0, stream_>>>(g, x, y, total);
  PCUDA_LAUNCH("avgpool_fwd_k");
}

void CudaBackend::avgpool2d_backward(const PoolGeometry& g, const float* dy, float* dx) {
  const size_t total = (size_t)g.N * g.C * g.H * g.W;
  if (!total) return;
  activate();
  avgpool_bwd_k<<<blocks_for(total), kThreads, 0, stream_>>>(g, dy, dx, total);
  PCUDA_LAUNCH("avgpool_bwd_k");
}

void CudaBackend::global_avgpool_forward(const float* x, float* y, int planes, int hw) {
  if (!planes) return;
  activate();
  gap_fwd_k<<<blocks_for(planes), kThreads, 0, stream_>>>(x, y, planes, hw);
  PCUDA_LAUNCH("gap_fwd_k");
}

void CudaBackend::global_avgpool_backward(const float* dy, float* dx, int planes, int hw) {
  const size_t total = (size_t)planes * hw;
  if (!total) return;
  activate();
  gap_bwd_k<<<blocks_for(total), kThreads, 0, stream_>>>(dy, dx, hw, total);
  PCUDA_LAUNCH("gap_bwd_k");
}

}  // namespace perceptra::cuda
