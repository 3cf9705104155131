#pragma once
// Optional per-op timers of the CPU backend (bench_train --profile): how much
// of a training step is sgemm/convolution and how much is everything else.
// Off by default; when off an op pays one relaxed atomic load.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace perceptra {

struct CpuOpStat {
  std::string name;
  double seconds = 0;
  int64_t calls = 0;
  bool heavy = false;  // sgemm or convolution
};

void cpu_profile_enable(bool on);
// Accumulated stats of ops that ran since the last take (then reset).
std::vector<CpuOpStat> cpu_profile_take();

namespace cpu_profile_detail {
enum Op : int {
  kGemm,
  kConvForward,
  kConvBackward,
  kMaxPoolForward,
  kMaxPoolBackward,
  kAvgPool,
  kGlobalAvgPool,
  kActivationForward,
  kActivationBackward,
  kBiasRows,
  kSumRows,
  kSoftmaxXent,
  kBatchNorm,
  kElementwise,
  kReduction,
  kOptimizer,
  kMemory,
  kOpCount
};
extern std::atomic<bool> enabled;
void record(Op op, int64_t ns);

class Timer {
 public:
  explicit Timer(Op op) : op_(op), on_(enabled.load(std::memory_order_relaxed)) {
    if (on_) t0_ = std::chrono::steady_clock::now();
  }
  ~Timer() {
    if (on_)
      record(op_, std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count());
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

 private:
  Op op_;
  bool on_;
  std::chrono::steady_clock::time_point t0_;
};
}  // namespace cpu_profile_detail

#define PERCEPTRA_CPU_OP(op) \
  ::perceptra::cpu_profile_detail::Timer perceptra_op_timer_(::perceptra::cpu_profile_detail::op)

}  // namespace perceptra
