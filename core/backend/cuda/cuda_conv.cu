// Convolution on the GPU: im2col/col2im kernels + cuBLAS (twin: cpu/cpu_conv.cpp).
//
// A chunk of nb images is lowered at once into col [C*R*S, nb*P*Q], so each
// group's forward, weight-gradient and input-gradient products are one GEMM
// per chunk instead of one per image. The GEMM output [K, nb*P*Q] is then
// scattered back to NCHW (plus bias). col2im gathers per input pixel, so it
// needs no atomics and sums in a fixed order.
#include <algorithm>

#include "core/backend/cuda/cuda_kernel.cuh"
#include "core/tensor/error.h"

namespace perceptra::cuda {

namespace {

// Column buffer budget per chunk (floats): 128 MiB.
constexpr size_t kColBudget = size_t(1) << 25;

__global__ void im2col_k(ConvGeometry g, const float* x, int nb, float* col) {
  const size_t PQ = (size_t)g.P * g.Q, cols = nb * PQ;
  const size_t total = (size_t)g.C * g.R * g.S * cols;
  GRID_STRIDE(i, total) {
    const int crs = static_cast<int>(i / cols);
    const size_t j = i % cols;
    col[i] = m::im2col_value(g, x, crs, static_cast<int>(j / PQ), static_cast<int>(j % PQ));
  }
}

__global__ void col2im_k(ConvGeometry g, const float* col, int nb, float* dx) {
  const size_t total = (size_t)nb * g.C * g.H * g.W;
  GRID_STRIDE(i, total) {
    const int w = static_cast<int>(i % g.W), h = static_cast<int>((i / g.W) % g.H);
    const int c = static_cast<int>((i / ((size_t)g.W * g.H)) % g.C);
    const int n = static_cast<int>(i / ((size_t)g.W * g.H * g.C));
    dx[i] = m::col2im_pixel(g, col, nb, n, c, h, w);
  }
}

// y[n][k][pq] = t[k][n*PQ + pq] + bias[k]
__global__ void unpack_k(const float* t, const float* bias, float* y, int K, int nb, int PQ) {
  const size_t total = (size_t)nb * K * PQ;
  GRID_STRIDE(i, total) {
    const int pq = static_cast<int>(i % PQ), k = static_cast<int>((i / PQ) % K);
    const int n = static_cast<int>(i / ((size_t)PQ * K));
    y[i] = t[(size_t)k * nb * PQ + (size_t)n * PQ + pq] + (bias ? bias[k] : 0.f);
  }
}

// t[k][n*PQ + pq] = dy[n][k][pq]
__global__ void pack_k(const float* dy, float* t, int K, int nb, int PQ) {
  const size_t total = (size_t)nb * K * PQ;
  GRID_STRIDE(i, total) {
    const int pq = static_cast<int>(i % PQ), k = static_cast<int>((i / PQ) % K);
    const int n = static_cast<int>(i / ((size_t)PQ * K));
    t[(size_t)k * nb * PQ + (size_t)n * PQ + pq] = dy[i];
  }
}

// One block per output channel: db[k] = sum over n, pq of dy (double).
__global__ void bias_grad_k(const float* dy, float* db, int N, int K, int PQ) {
  const int k = blockIdx.x;
  const size_t count = (size_t)N * PQ;
  double s = 0;
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) s += dy[((size_t)(i / PQ) * K + k) * PQ + i % PQ];
  s = block_sum(s);
  if (threadIdx.x == 0) db[k] = static_cast<float>(s);
}

int chunk_images(const ConvGeometry& g) {
  const size_t per_image = (size_t)g.C * g.R * g.S * g.P * g.Q;
  return static_cast<int>(std::max<size_t>(1, std::min<size_t>(g.N, kColBudget / per_image)));
}

}  // namespace

void CudaBackend::conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  PCHECK(g.in_block == 1 && g.out_block == 1, "the CUDA backend keeps activations in NCHW");
  if (!g.N) return;
  activate();
  const int Cg = g.C / g.groups, Kg = g.K / g.groups, CRSg = Cg * g.R * g.S, PQ = g.P * g.Q;
  const int nb = chunk_images(g);
  float* col = workspace(0, (size_t)g.C * g.R * g.S * nb * PQ);
  float* t = workspace(1, (size_t)g.K * nb * PQ);
  for (int n0 = 0; n0 < g.N; n0 += nb) {
    const int cnt = std::min(nb, g.N - n0);
    const int cols = cnt * PQ;
    const size_t col_total = (size_t)g.C * g.R * g.S * cols;
    im2col_k<<<blocks_for(col_total), kThreads, 0, stream_>>>(g, x + (size_t)n0 * g.C * g.H * g.W, cnt, col);
    PCUDA_LAUNCH("im2col_k");
    for (int grp = 0; grp < g.groups; ++grp)  // T_g [Kg, cols] = W_g [Kg, CRSg] * col_g
      gemm(false, false, Kg, cols, CRSg, 1.f, w + (size_t)grp * Kg * CRSg, CRSg, col + (size_t)grp * CRSg * cols, cols,
           0.f, t + (size_t)grp * Kg * cols, cols);
    const size_t out_total = (size_t)cnt * g.K * PQ;
    unpack_k<<<blocks_for(out_total), kThreads, 0, stream_>>>(t, bias, y + (size_t)n0 * g.K * PQ, g.K, cnt, PQ);
    PCUDA_LAUNCH("unpack_k");
  }
}

void CudaBackend::conv2d_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy, float* dx,
                                  float* dw, float* db, const float* dx_add) {
  PCHECK(g.in_block == 1 && g.out_block == 1, "the CUDA backend keeps activations in NCHW");
  if (!g.N) return;
  activate();
  const int Cg = g.C / g.groups, Kg = g.K / g.groups, CRSg = Cg * g.R * g.S, PQ = g.P * g.Q;
  const int nb = chunk_images(g);
  float* col = workspace(0, (size_t)g.C * g.R * g.S * nb * PQ);
  float* t = workspace(1, (size_t)g.K * nb * PQ);
  for (int n0 = 0; n0 < g.N; n0 += nb) {
    const int cnt = std::min(nb, g.N - n0);
    const int cols = cnt * PQ;
    const size_t col_total = (size_t)g.C * g.R * g.S * cols;
    const size_t out_total = (size_t)cnt * g.K * PQ;
    im2col_k<<<blocks_for(col_total), kThreads, 0, stream_>>>(g, x + (size_t)n0 * g.C * g.H * g.W, cnt, col);
    PCUDA_LAUNCH("im2col_k");
    pack_k<<<blocks_for(out_total), kThreads, 0, stream_>>>(dy + (size_t)n0 * g.K * PQ, t, g.K, cnt, PQ);
    PCUDA_LAUNCH("pack_k");
    const float beta = n0 == 0 ? 0.f : 1.f;   // dw is overwritten, then accumulated over chunks
    for (int grp = 0; grp < g.groups; ++grp)  // dW_g += dT_g [Kg, cols] * col_g^T [cols, CRSg]
      gemm(false, true, Kg, CRSg, cols, 1.f, t + (size_t)grp * Kg * cols, cols, col + (size_t)grp * CRSg * cols, cols,
           beta, dw + (size_t)grp * Kg * CRSg, CRSg);
    if (dx) {
      // dcol_g = W_g^T [CRSg, Kg] * dT_g, written over col (stream order: the
      // dW products above have read it by then).
      for (int grp = 0; grp < g.groups; ++grp)
        gemm(true, false, CRSg, cols, Kg, 1.f, w + (size_t)grp * Kg * CRSg, CRSg, t + (size_t)grp * Kg * cols, cols,
             0.f, col + (size_t)grp * CRSg * cols, cols);
      const size_t in_total = (size_t)cnt * g.C * g.H * g.W;
      col2im_k<<<blocks_for(in_total), kThreads, 0, stream_>>>(g, col, cnt, dx + (size_t)n0 * g.C * g.H * g.W);
      PCUDA_LAUNCH("col2im_k");
    }
  }
  if (db) {
    bias_grad_k<<<g.K, kThreads, 0, stream_>>>(dy, db, g.N, g.K, PQ);
    PCUDA_LAUNCH("bias_grad_k");
  }
  if (dx && dx_add) add(dx, dx_add, dx, (size_t)g.N * g.C * g.H * g.W);  // a separate pass here
}

void CudaBackend::conv2d_forward_relu(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                                      float* y) {
  conv2d_forward(g, x, w, bias, y);
  activation_forward(Activation::ReLU, 0.f, y, y, size_t(g.N) * g.K * g.P * g.Q);
}

void CudaBackend::conv2d_chain_forward(int n, const ConvLink* links, const float* x, float* y) {
  conv_chain_link_by_link(*this, n, links, x, y);
}

void CudaBackend::conv2d_forward_relu6(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                                       float* y) {
  conv2d_forward(g, x, w, bias, y);
  activation_forward(Activation::ReLU6, 0.f, y, y, size_t(g.N) * g.K * g.P * g.Q);
}

void CudaBackend::conv2d_relu_maxpool_forward(const ConvGeometry&, const float*, const float*, const float*, float*,
                                              float*) {
  unsupported(Op::conv2d_relu_maxpool_forward);
}

void CudaBackend::conv2d_relu_maxpool_backward(const ConvGeometry&, const float*, const float*, const float*,
                                               const float*, float*, float*) {
  unsupported(Op::conv2d_relu_maxpool_backward);
}

}  // namespace perceptra::cuda
