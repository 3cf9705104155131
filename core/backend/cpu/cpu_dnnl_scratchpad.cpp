#include "core/backend/cpu/cpu_dnnl_scratchpad.h"

#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

dnnl::primitive_attr& with_caller_scratchpad(dnnl::primitive_attr& attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void execute_with_scratchpad(const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd, dnnl::stream& s,
                             std::unordered_map<int, dnnl::memory> args) {
  const dnnl::memory::desc want = pd.scratchpad_desc();
  CpuScratch buf;
  if (want.get_size() > 0) {
    buf.get_bytes(want.get_size());
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(want, cpu_dnnl_engine(), buf.data()));
  }
  prim.execute(s, args);
  s.wait();  // the temporary goes back to the cache on return
}

}  // namespace perceptra
