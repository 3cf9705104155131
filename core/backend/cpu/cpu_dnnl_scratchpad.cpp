#include "core/backend/cpu/cpu_dnnl_scratchpad.h"

#include <cstdlib>
#include <new>

#include "core/backend/cpu/cpu_dnnl.h"

namespace perceptra {

namespace {

// The executing thread's scratchpad: one buffer grown to the largest
// request, as oneDNN's own is, but owned by the thread that runs the
// primitive. (Block-cache temporaries, one per size, kept every primitive's
// size at once: ResNet-18's peak RSS rose past PyTorch's.)
class ThreadScratchpad {
 public:
  ~ThreadScratchpad() { std::free(p_); }
  void* get(size_t bytes) {
    if (bytes > bytes_) {
      std::free(p_);
      p_ = nullptr;
      bytes_ = 0;
      const size_t rounded = (bytes + 63) / 64 * 64;
      p_ = std::aligned_alloc(64, rounded);
      if (!p_) throw std::bad_alloc();
      bytes_ = rounded;
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};
thread_local ThreadScratchpad t_scratchpad;

}  // namespace

dnnl::primitive_attr& with_caller_scratchpad(dnnl::primitive_attr& attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void execute_with_scratchpad(const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd, dnnl::stream& s,
                             std::unordered_map<int, dnnl::memory> args) {
  const dnnl::memory::desc want = pd.scratchpad_desc();
  if (want.get_size() > 0)
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(want, cpu_dnnl_engine(), t_scratchpad.get(want.get_size())));
  prim.execute(s, args);
  s.wait();
}

}  // namespace perceptra
