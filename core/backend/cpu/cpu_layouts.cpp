// Operands in a kernel's layout (cpu_layouts.h). Held copies are per
// thread, as a hold is.
#include "core/backend/cpu/cpu_layouts.h"

#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_dnnl.h"

namespace perceptra {

namespace {

struct Held {
  const float* w;
  dnnl::memory::desc layout;
  dnnl::memory copy;
};
thread_local std::vector<Held> t_held;
void drop_held() { t_held.clear(); }

}  // namespace

dnnl::memory as_layout(const dnnl::memory::desc& want, const dnnl::memory& user, bool copy_in, CpuScratch& t,
                       dnnl::stream& s) {
  if (want == user.get_desc()) return user;
  dnnl::memory m(want, cpu_dnnl_engine(), t.get_bytes(want.get_size()));
  if (copy_in) cpu_reorder(user, m, s);
  return m;
}

dnnl::memory held_weights(const float* w, const dnnl::memory::desc& layout,
                          const std::function<void(const dnnl::memory& to)>& fill) {
  if (!weights_held()) return {};
  for (const Held& h : t_held)
    if (h.w == w && h.layout == layout) return h.copy;
  static const bool registered = (on_weights_released(drop_held), true);
  (void)registered;
  dnnl::memory to(layout, cpu_dnnl_engine());
  fill(to);
  t_held.push_back({w, layout, to});
  return to;
}

size_t cpu_held_weight_copies() { return t_held.size(); }

}  // namespace perceptra
