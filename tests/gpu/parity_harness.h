#pragma once
// Shared by the GPU parity suites: picks the device under test and compares
// its results with the CPU reference backend.
//
// Device under test: cuda:0. Each test skips with the probe's reason when no
// CUDA device is usable. PERCEPTRA_PARITY_SELFTEST=1 runs the suites with the
// CPU backend on both sides: that only checks the harness itself (indexing,
// tolerances, buffer handling) on machines without a GPU; it says nothing
// about the CUDA kernels and is never reported as a GPU result.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/backend/backend.h"
#include "core/tensor/random.h"
#include "core/tensor/tensor.h"

namespace parity {

inline bool selftest() {
  const char* v = std::getenv("PERCEPTRA_PARITY_SELFTEST");
  return v && std::string(v) == "1";
}

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (selftest()) {
      std::printf("PERCEPTRA_PARITY_SELFTEST=1: CPU vs CPU (harness check, not a GPU result)\n");
      dev = perceptra::Device::cpu();
      return;
    }
    perceptra::CudaProbe p = perceptra::probe_cuda();
    if (p.device_count == 0) GTEST_SKIP() << "no usable CUDA device: " << p.reason;
    dev = perceptra::Device::cuda(0);
  }
  perceptra::Backend& gpu() { return perceptra::backend_for(dev); }
  perceptra::Backend& cpu() { return perceptra::backend_for(perceptra::Device::cpu()); }
  perceptra::Tensor up(const std::vector<float>& v) {
    return perceptra::Tensor::from_vector({static_cast<int64_t>(v.size())}, v, dev);
  }
  perceptra::Tensor dev_empty(size_t n) { return perceptra::Tensor::empty({static_cast<int64_t>(n)}, dev); }
  perceptra::Device dev;
};

inline std::vector<float> randv(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  perceptra::Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(lo, hi);
  return v;
}

// |got - want| <= atol + rtol * |want| everywhere; reports the worst element.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rtol, double atol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs((double)got[i] - want[i]);
    const double lim = atol + rtol * std::fabs((double)want[i]);
    const bool both_nan = std::isnan(got[i]) && std::isnan(want[i]);
    if (both_nan) continue;
    if (!(err <= lim) && err - lim > worst_excess) {
      worst_excess = err - lim;
      worst = i;
    }
  }
  EXPECT_LT(worst_excess, 0) << what << ": element " << worst << " is " << got[worst] << ", reference " << want[worst]
                             << " (rtol " << rtol << ", atol " << atol << ")";
}

}  // namespace parity
