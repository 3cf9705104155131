// The CPU fallback: a build with or without the CUDA backend, on a machine
// without a usable GPU, probes, reports why, and resolve_device("auto") picks
// the CPU with the one-line note the CLI and GUI print. Also the error
// messages of the CUDA call checks (they need no device to be formatted).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/tensor/device.h"
#include "core/tensor/error.h"
#include "core/tensor/tensor.h"

#ifdef PERCEPTRA_WITH_CUDA
#include <cuda_runtime_api.h>

#include "core/backend/cuda/cuda_allocator.h"
#include "core/backend/cuda/cuda_check.h"
#include "core/backend/cuda/cuda_device.h"
#include "core/tensor/cuda_upload.h"
#endif

using namespace perceptra;

namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

TEST(CudaFallback, ProbeMatchesTheBuild) {
  CudaProbe p = probe_cuda();
#ifdef PERCEPTRA_WITH_CUDA
  EXPECT_TRUE(p.compiled);
#else
  EXPECT_FALSE(p.compiled);
  EXPECT_EQ(p.device_count, 0);
  EXPECT_EQ(p.reason, "not compiled in (this build has no CUDA backend)");
#endif
  if (p.device_count == 0) {
    EXPECT_FALSE(p.reason.empty());
  }
  std::printf("probe: compiled=%d devices=%d reason='%s'\n", p.compiled, p.device_count, p.reason.c_str());
}

#ifdef PERCEPTRA_WITH_CUDA
TEST(CudaFallback, ReasonFollowsWhatTheRuntimeReports) {
  CudaProbe p = probe_cuda();
  if (p.device_count > 0) GTEST_SKIP() << "a CUDA device is usable here; nothing falls back";
  int driver = -1;
  cudaDriverGetVersion(&driver);
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  (void)cudaGetLastError();
  if (driver == 0) {
    EXPECT_EQ(p.reason, "no device (driver not installed)");
  } else if (err == cudaErrorInsufficientDriver) {
    EXPECT_EQ(p.reason.rfind("no device (driver version insufficient: the driver supports CUDA ", 0), 0u) << p.reason;
  } else if (err == cudaErrorNoDevice || count == 0) {
    EXPECT_EQ(p.reason, "no device (no CUDA-capable device is detected)");
  } else {
    EXPECT_TRUE(p.reason.rfind("no device (", 0) == 0 || p.reason.rfind("device unusable (", 0) == 0) << p.reason;
  }
}
#endif

TEST(CudaFallback, AutoPicksCpuWithOneLineNote) {
  CudaProbe p = probe_cuda();
  if (p.device_count > 0) GTEST_SKIP() << "a CUDA device is usable here; auto picks it";
  std::string note;
  Device d = resolve_device(DeviceRequest::parse("auto"), &note);
  EXPECT_TRUE(d.is_cpu());
  EXPECT_EQ(note, "CUDA: " + p.reason + " — training on CPU");
  EXPECT_EQ(note.rfind("CUDA: ", 0), 0u);
  EXPECT_TRUE(ends_with(note, " — training on CPU")) << note;
  EXPECT_EQ(note.find('\n'), std::string::npos);
#ifdef PERCEPTRA_WITH_CUDA
  EXPECT_TRUE(note.rfind("CUDA: no device (", 0) == 0 || note.rfind("CUDA: device unusable (", 0) == 0) << note;
#endif
  // An explicit CPU request needs no note.
  std::string none;
  EXPECT_TRUE(resolve_device(DeviceRequest::parse("cpu"), &none).is_cpu());
  EXPECT_TRUE(none.empty());
}

TEST(CudaFallback, ExplicitCudaRequestFailsWithTheReason) {
  CudaProbe p = probe_cuda();
  if (p.device_count > 0) GTEST_SKIP() << "a CUDA device is usable here";
  try {
    resolve_device(DeviceRequest::parse("cuda:0"), nullptr);
    FAIL() << "cuda:0 resolved without a device";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p.reason), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
  // The backend and tensors refuse cleanly (an Error, not a crash).
  EXPECT_THROW(backend_for(Device::cuda(0)), Error);
  EXPECT_THROW(Tensor::zeros({2, 3}, Device::cuda(0)), Error);
  try {
    backend_for(Device::cuda(0));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p.reason), std::string::npos) << e.what();
  }
}

// Training on whatever "auto" resolved to (the CPU here): a linear model
// fitted by gradient descent through the backend ops a trainer uses.
TEST(CudaFallback, TrainsOnTheResolvedDevice) {
  std::string note;
  Device dev = resolve_device(DeviceRequest::parse("auto"), &note);
  if (!note.empty()) std::printf("%s\n", note.c_str());
  Backend& b = backend_for(dev);
  const int N = 64, D = 3;
  std::vector<float> xs(N * D), ys(N);
  const float true_w[D] = {0.5f, -1.5f, 2.f};
  for (int i = 0; i < N; ++i) {
    float t = 0;
    for (int j = 0; j < D; ++j) {
      xs[i * D + j] = static_cast<float>((i * 7 + j * 3) % 11) / 11.f - 0.5f;
      t += true_w[j] * xs[i * D + j];
    }
    ys[i] = t;
  }
  Tensor x = Tensor::from_vector({N, D}, xs, dev), y = Tensor::from_vector({N, 1}, ys, dev);
  Tensor w = Tensor::zeros({D, 1}, dev), p = Tensor::empty({N, 1}, dev), dp = Tensor::empty({N, 1}, dev),
         gw = Tensor::empty({D, 1}, dev);
  double first = -1, last = -1;
  for (int step = 0; step < 200; ++step) {
    b.gemm(false, false, N, 1, D, 1.f, x.data(), D, w.data(), 1, 0.f, p.data(), 1);
    last = b.mse(p.data(), y.data(), dp.data(), N);
    if (step == 0) first = last;
    b.gemm(true, false, D, 1, N, 1.f, x.data(), D, dp.data(), 1, 0.f, gw.data(), 1);
    b.sgd_update(w.data(), gw.data(), nullptr, D, 0.5f, 0.f, 0.f, 0.f, false, step == 0);
  }
  EXPECT_GT(first, 0.1);
  EXPECT_LT(last, 1e-4 * first);
  auto wv = w.to_vector();
  for (int j = 0; j < D; ++j) EXPECT_NEAR(wv[j], true_w[j], 1e-2);
}

#ifdef PERCEPTRA_WITH_CUDA
TEST(CudaErrors, RuntimeFailureNamesCallPlaceAndCode) {
  try {
    cuda::check_cuda(cudaErrorMemoryAllocation, "cudaMalloc(&p, bytes)",
                     "/src/perceptra/core/backend/cuda/cuda_allocator.cpp", 42);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "CUDA error: cudaMalloc(&p, bytes) at core/backend/cuda/cuda_allocator.cpp:42 "
              "failed: out of memory (cudaErrorMemoryAllocation, code 2)");
  }
}

TEST(CudaErrors, CublasFailureNamesCallPlaceAndCode) {
  try {
    cuda::check_cublas(CUBLAS_STATUS_NOT_INITIALIZED, "cublasCreate(&h)", "core/backend/cuda/x.cpp", 7);
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("cuBLAS error: cublasCreate(&h) at core/backend/cuda/x.cpp:7 failed: ", 0), 0u) << m;
    EXPECT_NE(m.find("CUBLAS_STATUS_NOT_INITIALIZED, code 1)"), std::string::npos) << m;
  }
}

TEST(CudaErrors, MacroCarriesTheCallText) {
  if (probe_cuda().device_count > 0) GTEST_SKIP() << "needs a failing CUDA call; a device is present";
  // Without a usable device/driver this call fails; the message quotes it.
  try {
    PCUDA(cudaSetDevice(0));
    PCUDA(cudaFree(nullptr));  // forces context creation where SetDevice is lazy
    GTEST_SKIP() << "CUDA calls succeed here";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("CUDA error: cuda", 0), 0u) << m;
    EXPECT_NE(m.find("tests/gpu/test_cuda_fallback.cpp:"), std::string::npos) << m;
    EXPECT_NE(m.find(", code "), std::string::npos) << m;
  }
}

TEST(CudaAllocator, SizeClassesBoundTheSlack) {
  EXPECT_EQ(cuda::round_allocation(0), 512u);
  EXPECT_EQ(cuda::round_allocation(1), 512u);
  EXPECT_EQ(cuda::round_allocation(512), 512u);
  EXPECT_EQ(cuda::round_allocation(513), 1024u);
  EXPECT_EQ(cuda::round_allocation(1 << 20), size_t(1) << 20);
  EXPECT_EQ(cuda::round_allocation((1 << 20) + 1), (size_t(1) << 20) + (size_t(1) << 18));
  for (size_t b = 1; b < (size_t(1) << 34); b = b * 3 + 7) {
    size_t r = cuda::round_allocation(b);
    EXPECT_GE(r, b);
    EXPECT_LE(r, b + b / 4 + 512) << b;
    EXPECT_EQ(cuda::round_allocation(r), r) << b;  // classes are fixed points
  }
}

TEST(CudaDevice, QueriesFailCleanlyWithoutADevice) {
  CudaProbe p = probe_cuda();
  if (p.device_count > 0) GTEST_SKIP() << "a CUDA device is usable here";
  EXPECT_THROW(cuda::device_info(0), Error);
  EXPECT_THROW(cuda::memory_stats(0), Error);
  std::vector<float> host(6, 1.f);
  EXPECT_THROW(cuda::upload_batch(host.data(), {2, 3}, Device::cuda(0)), Error);
  EXPECT_THROW(cuda::upload_batch(host.data(), {2, 3}, Device::cpu()), Error);
}
#endif
