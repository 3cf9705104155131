#pragma once
// Block-wide sum in double (warp shuffles, then one warp over the warp sums).
// Every thread gets the total. Call from all threads of the block.
#include <cuda_runtime.h>

namespace perceptra::cuda {

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ double block_sum(double v) {
  __shared__ double warp_sums[32];
  __shared__ double total;
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) warp_sums[wid] = v;
  __syncthreads();
  if (wid == 0) {
    const int nw = (blockDim.x + 31) >> 5;
    double s = lane < nw ? warp_sums[lane] : 0.0;
    s = warp_sum(s);
    if (lane == 0) total = s;
  }
  __syncthreads();
  double r = total;
  __syncthreads();  // the shared slots may be reused by the next call
  return r;
}

}  // namespace perceptra::cuda
