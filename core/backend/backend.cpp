#include "core/backend/backend.h"

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda_entry.h"
#include "core/tensor/error.h"

namespace perceptra {

const char* op_name(Op op) {
  static const char* const kNames[] = {
#define PERCEPTRA_OP(ret, name, args) #name,
#include "core/backend/backend_ops.inc"
  };
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == size_t(kOpCount));
  const int i = int(op);
  return i >= 0 && i < kOpCount ? kNames[i] : "unknown op";
}

void Backend::unsupported(Op op) const { throw Error(std::string(op_name(op)) + ": not supported by " + describe()); }

const char* precision_name(Precision p) { return p == Precision::BF16 ? "bf16" : "f32"; }

Precision parse_precision(const std::string& text, const std::string& where) {
  if (text == "f32") return Precision::F32;
  if (text == "bf16") return Precision::BF16;
  throw InputError(where, "precision must be f32 or bf16, got '" + text + "'");
}

void Backend::set_precision(Precision p) {
  const std::string why = precision_unavailable(p);
  if (!why.empty()) throw Error("precision " + std::string(precision_name(p)) + ": " + why);
}

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
  return cuda_backend(device.index);
}

namespace {
thread_local int t_holds = 0;
std::mutex g_release_mu;
std::vector<void (*)()>& release_hooks(bool after) {
  static std::vector<void (*)()> drops, afters;
  return after ? afters : drops;
}
}  // namespace

WeightsHeld::WeightsHeld() { ++t_holds; }

WeightsHeld::~WeightsHeld() {
  if (--t_holds > 0) return;
  std::vector<void (*)()> hooks;
  {
    std::lock_guard<std::mutex> lk(g_release_mu);
    hooks = release_hooks(false);
    const auto& afters = release_hooks(true);
    hooks.insert(hooks.end(), afters.begin(), afters.end());
  }
  for (auto* hook : hooks) hook();
}

bool weights_held() { return t_holds > 0; }

void on_weights_released(void (*drop)(), bool after) {
  std::lock_guard<std::mutex> lk(g_release_mu);
  auto& hooks = release_hooks(after);
  if (std::find(hooks.begin(), hooks.end(), drop) == hooks.end()) hooks.push_back(drop);
}

CudaProbe probe_cuda() {
  // The driver query is slow-ish and its answer fixed for the process.
  static std::once_flag once;
  static CudaProbe probe;
  std::call_once(once, [] { probe = cuda_probe_impl(); });
  return probe;
}

Device resolve_device(const DeviceRequest& request, std::string* note) {
  if (!request.automatic && request.device.is_cpu()) return Device::cpu();
  CudaProbe probe = probe_cuda();
  if (request.automatic) {
    if (probe.device_count > 0) return Device::cuda(0);
    if (note) *note = "CUDA: " + probe.reason + " — training on CPU";
    return Device::cpu();
  }
  if (probe.device_count == 0) throw Error("cannot use " + request.device.str() + ": CUDA: " + probe.reason);
  if (request.device.index >= probe.device_count)
    throw Error("cannot use " + request.device.str() + ": only " + std::to_string(probe.device_count) +
                " CUDA device(s) present");
  return request.device;
}

bool conv_link_shortcut_fits(const ConvLink* links, int i) {
  const ConvLink& l = links[i];
  if (!l.residual()) return true;
  if (l.residual_from >= i || l.pooled()) return false;
  const ConvGeometry& from = links[l.residual_from].g;  // its input is the shortcut
  if (!l.proj_w) return from.N == l.g.N && from.C == l.g.K && from.H == l.g.P && from.W == l.g.Q;
  const ConvGeometry& p = l.proj_g;
  return p.N == from.N && p.C == from.C && p.H == from.H && p.W == from.W && p.K == l.g.K && p.P == l.g.P &&
         p.Q == l.g.Q;
}

std::vector<int> conv_chain_last_use(int n, const ConvLink* links) {
  std::vector<int> last(size_t(n) + 1);
  for (int k = 0; k <= n; ++k) last[size_t(k)] = k;
  for (int i = 0; i < n; ++i) {
    const int from = links[i].residual_from;
    if (from >= 0 && from < i) last[size_t(from)] = std::max(last[size_t(from)], i);
  }
  return last;
}

void linear_forward_op_by_op(Backend& be, int N, int in, int out, const float* x, const float* w, const float* bias,
                             ConvPost post, float* y) {
  if (N == 0 || out == 0) return;
  const int ld = std::max(in, 1);  // no features: y is post(bias) (BLAS wants ld >= 1)
  be.gemm(false, true, N, out, in, 1.f, x, ld, w, ld, 0.f, y, out);
  if (bias) be.add_bias_rows(y, bias, N, out);
  if (post != ConvPost::None)
    be.activation_forward(post == ConvPost::ReLU ? Activation::ReLU : Activation::ReLU6, 0.f, y, y, size_t(N) * out);
}

void conv_chain_link_by_link(Backend& be, int n, const ConvLink* links, const float* x, float* y) {
  // Temporaries by owner: group k holds link k's input, freed after its last
  // reader (link k, or a later link whose shortcut it is); group n + 1 is one
  // link's scratch. At most a few outputs are alive at once, as before
  // shortcuts existed (a GPU holds ResNet-18 chains of 50 MB outputs).
  using Blocks = std::vector<std::pair<float*, size_t>>;
  std::vector<Blocks> groups(size_t(n) + 2);
  struct Free {
    Backend& be;
    std::vector<Blocks>& groups;
    void group(size_t k) {
      for (auto& [p, count] : groups[k]) be.deallocate(p, count);
      groups[k].clear();
    }
    ~Free() {
      for (size_t k = 0; k < groups.size(); ++k) group(k);
    }
  } freer{be, groups};
  auto temp = [&](size_t count, int group) {
    groups[size_t(group)].emplace_back(be.allocate(count), count);
    return groups[size_t(group)].back().first;
  };
  const int scratch = n + 1;
  const std::vector<int> last_use = conv_chain_last_use(n, links);
  std::vector<const float*> inputs(size_t(n) + 1);  // inputs[i]: link i's input
  inputs[0] = x;
  for (int i = 0; i < n; ++i) {
    const ConvLink& l = links[i];
    const bool last = i == n - 1;
    const size_t conv_floats = size_t(l.g.N) * l.g.K * l.g.P * l.g.Q;
    // Read only by the pooling when there is one.
    float* conv_out = last && !l.pooled() ? y : temp(conv_floats, l.pooled() ? scratch : i + 1);
    const ConvPost post = l.residual() ? ConvPost::None : l.post;  // after the sum then
    if (post == ConvPost::ReLU)
      be.conv2d_forward_relu(l.g, inputs[size_t(i)], l.w, l.bias, conv_out);
    else if (post == ConvPost::ReLU6)
      be.conv2d_forward_relu6(l.g, inputs[size_t(i)], l.w, l.bias, conv_out);
    else
      be.conv2d_forward(l.g, inputs[size_t(i)], l.w, l.bias, conv_out);
    if (l.residual()) {
      PCHECK(conv_link_shortcut_fits(links, i),
             "chain link " + std::to_string(i) + ": its shortcut is not an earlier link's input of the output's shape");
      const float* s = inputs[size_t(l.residual_from)];
      if (l.proj_w) {
        float* projected = temp(conv_floats, scratch);
        be.conv2d_forward(l.proj_g, s, l.proj_w, l.proj_bias, projected);
        s = projected;
      }
      be.add(conv_out, s, conv_out, conv_floats);
      if (l.post != ConvPost::None)
        be.activation_forward(l.post == ConvPost::ReLU ? Activation::ReLU : Activation::ReLU6, 0.f, conv_out, conv_out,
                              conv_floats);
    }
    const float* out = conv_out;
    if (l.pooled()) {
      float* pool_out = last ? y : temp(l.out_floats(), i + 1);
      be.maxpool2d_forward(l.pool, conv_out, pool_out);
      out = pool_out;
    }
    inputs[size_t(i) + 1] = out;
    // Freed blocks are reused in stream order (CPU ops are synchronous; the
    // CUDA allocator serves one compute stream), so no wait is needed.
    freer.group(size_t(scratch));
    for (int k = 1; k <= i; ++k)  // input 0 is the caller's x
      if (last_use[size_t(k)] == i) freer.group(size_t(k));
  }
}

}  // namespace perceptra
