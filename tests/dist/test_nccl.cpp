// NCCL on one device (a single-rank communicator bootstrapped locally):
// allreduce and broadcast on device buffers. Skips, saying why, in builds
// without NCCL or on machines without a CUDA device.
#include <gtest/gtest.h>

#include <vector>

#include "core/dist/communicator.h"
#include "core/dist/nccl_communicator.h"

#ifdef PERCEPTRA_HAVE_NCCL
#include <cuda_runtime.h>
#endif

using namespace perceptra;

TEST(Nccl, AllreduceAndBroadcastOnADevice) {
  if (!nccl_compiled()) GTEST_SKIP() << "built without CUDA/NCCL";
#ifdef PERCEPTRA_HAVE_NCCL
  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess || count == 0)
    GTEST_SKIP() << "no CUDA device: " << (rc != cudaSuccess ? cudaGetErrorString(rc) : "0 devices");
  auto c = nccl_communicator(local_communicator(), 0);
  EXPECT_EQ(c->backend(), "nccl");
  EXPECT_EQ(c->size(), 1);
  std::vector<float> h = {1.5f, -2.f, 3.f, 4.25f};
  float* d = nullptr;
  ASSERT_EQ(cudaMalloc(&d, h.size() * sizeof(float)), cudaSuccess);
  cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice);
  c->allreduce_sum(d, h.size());  // one rank: the identity, through NCCL
  c->broadcast(d, h.size() * sizeof(float), 0);
  std::vector<float> back(h.size());
  cudaMemcpy(back.data(), d, h.size() * sizeof(float), cudaMemcpyDeviceToHost);
  cudaFree(d);
  EXPECT_EQ(back, h);
  EXPECT_EQ(c->bytes_communicated(), 2 * h.size() * sizeof(float));
#endif
}
