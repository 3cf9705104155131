#include "core/backend/backend.h"

#include <algorithm>
#include <mutex>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cuda_entry.h"

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

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend();
  return cuda_backend(device.index);
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

void conv_chain_link_by_link(Backend& be, int n, const ConvLink* links, const float* x, float* y) {
  size_t most = 0;  // the largest intermediate: a conv output, or a pooled one
  for (int i = 0; i < n; ++i) {
    const ConvGeometry& g = links[i].g;
    if (i + 1 < n || links[i].pooled()) most = std::max(most, size_t(g.N) * g.K * g.P * g.Q);
    if (i + 1 < n) most = std::max(most, links[i].out_floats());
  }
  float* buf[2] = {most ? be.allocate(most) : nullptr, most ? be.allocate(most) : nullptr};
  int next = 0;
  const float* in = x;
  for (int i = 0; i < n; ++i) {
    const ConvLink& l = links[i];
    const bool last = i == n - 1;
    float* conv_out = last && !l.pooled() ? y : buf[next];
    if (l.post == ConvPost::ReLU)
      be.conv2d_forward_relu(l.g, in, l.w, l.bias, conv_out);
    else if (l.post == ConvPost::ReLU6)
      be.conv2d_forward_relu6(l.g, in, l.w, l.bias, conv_out);
    else
      be.conv2d_forward(l.g, in, l.w, l.bias, conv_out);
    in = conv_out;
    next ^= conv_out == buf[next];
    if (l.pooled()) {
      float* pool_out = last ? y : buf[next];
      be.maxpool2d_forward(l.pool, in, pool_out);
      in = pool_out;
      next ^= pool_out == buf[next];
    }
  }
  for (float* b : buf)
    if (b) be.deallocate(b, most);
}

}  // namespace perceptra
