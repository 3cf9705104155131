#include "core/backend/cpu/cpu_profile.h"

namespace perceptra {

namespace cpu_profile_detail {
std::atomic<bool> enabled{false};
namespace {
std::atomic<int64_t> ns[kOpCount];
std::atomic<int64_t> calls[kOpCount];
const char* const kNames[kOpCount] = {"gemm",
                                      "conv2d_forward",
                                      "conv2d_backward",
                                      "maxpool2d_forward",
                                      "maxpool2d_backward",
                                      "avgpool2d",
                                      "global_avgpool",
                                      "activation_forward",
                                      "activation_backward",
                                      "add_bias_rows",
                                      "sum_rows",
                                      "softmax_xent",
                                      "batchnorm",
                                      "elementwise",
                                      "reduction",
                                      "optimizer_update",
                                      "memory"};
}  // namespace
void record(Op op, int64_t t) {
  ns[op].fetch_add(t, std::memory_order_relaxed);
  calls[op].fetch_add(1, std::memory_order_relaxed);
}
}  // namespace cpu_profile_detail

void cpu_profile_enable(bool on) { cpu_profile_detail::enabled.store(on); }

std::vector<CpuOpStat> cpu_profile_take() {
  using namespace cpu_profile_detail;
  std::vector<CpuOpStat> out;
  for (int i = 0; i < kOpCount; ++i) {
    int64_t c = calls[i].exchange(0), t = ns[i].exchange(0);
    if (!c) continue;
    out.push_back({kNames[i], t * 1e-9, c, i == kGemm || i == kConvForward || i == kConvBackward});
  }
  return out;
}

}  // namespace perceptra
