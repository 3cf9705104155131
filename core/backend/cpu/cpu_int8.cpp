// int8 convolution and inner product through oneDNN 2.x (see cpu_int8.h).
// oneDNN multiplies u8 x s8 with s32 accumulation: vpdpbusd on VNNI CPUs,
// vpmaddubsw + vpmaddwd on AVX2 (this machine: AMD EPYC, AVX2 only), whose
// 16-bit pair sums are why weights use 7 bits (core/quant/quantize.h).
// Every primitive reads u8: signed sources are shifted by 128 here (see
// compensated_bias). Primitives are created per batch size and cached with
// their reordered (blocked) weights.
#include "core/backend/cpu/cpu_int8.h"

#include <dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_dnnl_scratchpad.h"
#include "core/tensor/error.h"

namespace perceptra::int8 {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::primitive_attr output_attr(const std::vector<float>& scales, bool relu) {
  dnnl::primitive_attr attr = caller_scratchpad_attr();
  attr.set_output_scales(1 << 1, scales);  // per output channel (dimension 1)
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return attr;
}

constexpr size_t kMaxCached = 8;  // batch sizes per layer (the last batch differs)

// Weights reordered once into the layout the primitive chose.
memory reorder_weights(const memory::desc& user_md, const std::vector<int8_t>& w, const memory::desc& want) {
  memory user(user_md, cpu_dnnl_engine(), const_cast<int8_t*>(w.data()));
  memory out(want, cpu_dnnl_engine());
  dnnl::stream s(cpu_dnnl_engine());
  dnnl::reorder(user, out).execute(s, user, out);
  s.wait();
  return out;
}

memory bias_memory(const std::vector<float>& bias, int n) {
  memory m({{n}, dt::f32, tag::x}, cpu_dnnl_engine());
  std::copy(bias.begin(), bias.end(), static_cast<float*>(m.get_data_handle()));
  return m;
}

}  // namespace

// ---- convolution ----

// Signed sources run as u8: u = s + 128, so acc(u) = acc(s) + 128 * sum(w)
// over the window. With the padding made explicit (filled with 128, the
// shifted zero) every window is full and the correction is one constant per
// output channel, folded into the bias: the result stays exact. oneDNN's own
// s8 x s8 path on CPUs without VNNI halves the weights instead (inexact).
std::vector<float> compensated_bias(const std::vector<float>& bias, const std::vector<int8_t>& w, int K) {
  const size_t per = w.size() / size_t(K);
  std::vector<float> b(size_t(K), 0.f);
  for (size_t k = 0; k < size_t(K); ++k) {
    int64_t sum = 0;
    for (size_t i = 0; i < per; ++i) sum += w[k * per + i];
    b[k] = (bias.empty() ? 0.f : bias[k]) - 128.f * float(sum);
  }
  return b;
}

struct ConvInt8::Impl {
  std::vector<uint8_t> shifted;  // signed sources: s + 128, explicitly padded
  struct Entry {
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward prim;
    memory weights, bias;
  };
  std::mutex mu;                                  // primitives share a scratchpad: one execution at a time
  std::map<std::pair<int, int>, Entry> by_batch;  // (batch, OpenMP threads): see cpu_dnnl.h
  Entry& get(const ConvInt8Spec& s, int N);
};

ConvInt8::Impl::Entry& ConvInt8::Impl::get(const ConvInt8Spec& s, int N) {
  const std::pair<int, int> key{N, cpu_threads()};
  auto it = by_batch.find(key);
  if (it != by_batch.end()) return it->second;
  if (by_batch.size() >= kMaxCached) by_batch.clear();
  ConvGeometry g = s.g;
  if (s.src_signed) {  // explicit padding (see compensated_bias)
    g.H += 2 * g.pad_h;
    g.W += 2 * g.pad_w;
    g.pad_h = g.pad_w = 0;
  }
  // Right padding that yields exactly P x Q outputs (as cpu_conv_dnnl.cpp).
  const int eff_h = (g.R - 1) * g.dil_h + 1, eff_w = (g.S - 1) * g.dil_w + 1;
  const int pr_h = std::max(0, (g.P - 1) * g.stride_h + eff_h - g.H - g.pad_h);
  const int pr_w = std::max(0, (g.Q - 1) * g.stride_w + eff_w - g.W - g.pad_w);
  memory::desc src({N, g.C, g.H, g.W}, dt::u8, tag::nhwc);
  memory::desc wei_any({g.K, g.C, g.R, g.S}, dt::s8, tag::any);
  memory::desc bias({g.K}, dt::f32, tag::x);
  memory::desc dst({N, g.K, g.P, g.Q}, s.dst_u8 ? dt::u8 : dt::f32, tag::nhwc);
  using F = dnnl::convolution_forward;
  const auto prop = dnnl::prop_kind::forward_inference;
  const memory::dims strides{g.stride_h, g.stride_w}, dil{g.dil_h - 1, g.dil_w - 1}, pl{g.pad_h, g.pad_w},
      pr{pr_h, pr_w};
  const bool has_bias = !s.bias.empty() || s.src_signed;
  F::desc d = !has_bias
                  ? F::desc(prop, dnnl::algorithm::convolution_direct, src, wei_any, dst, strides, dil, pl, pr)
                  : F::desc(prop, dnnl::algorithm::convolution_direct, src, wei_any, bias, dst, strides, dil, pl, pr);
  Entry e;
  e.pd = F::primitive_desc(d, output_attr(s.scales, s.relu), cpu_dnnl_engine());
  e.prim = F(e.pd);
  e.weights = reorder_weights({{g.K, g.C, g.R, g.S}, dt::s8, tag::oihw}, s.weights, e.pd.weights_desc());
  if (s.src_signed)
    e.bias = bias_memory(compensated_bias(s.bias, s.weights, g.K), g.K);
  else if (has_bias)
    e.bias = bias_memory(s.bias, g.K);
  return by_batch.emplace(key, std::move(e)).first->second;
}

ConvInt8::ConvInt8(ConvInt8Spec spec) : spec_(std::move(spec)), impl_(new Impl) {
  const ConvGeometry& g = spec_.g;
  PCHECK(g.groups == 1, "int8 conv: grouped convolution is not supported");
  PCHECK(spec_.scales.size() == size_t(g.K), "int8 conv: one output scale per channel needed");
  PCHECK(spec_.weights.size() == size_t(g.K) * g.C * g.R * g.S, "int8 conv: weight size");
  PCHECK(spec_.bias.empty() || spec_.bias.size() == size_t(g.K), "int8 conv: bias size");
}
ConvInt8::~ConvInt8() = default;

void ConvInt8::run(int N, const void* src, void* dst) {
  const ConvGeometry& g = spec_.g;
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& e = impl_->get(spec_, N);
  const void* in = src;
  if (spec_.src_signed) {
    const int Hp = g.H + 2 * g.pad_h, Wp = g.W + 2 * g.pad_w, C = g.C;
    auto& buf = impl_->shifted;
    buf.assign(size_t(N) * Hp * Wp * C, uint8_t(128));
    const auto* s8 = static_cast<const int8_t*>(src);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; ++n)
      for (int h = 0; h < g.H; ++h) {
        const int8_t* from = s8 + (size_t(n) * g.H + h) * g.W * C;
        uint8_t* to = buf.data() + ((size_t(n) * Hp + h + g.pad_h) * Wp + g.pad_w) * C;
        for (int i = 0; i < g.W * C; ++i) to[i] = uint8_t(int(from[i]) + 128);
      }
    in = buf.data();
  }
  memory s(e.pd.src_desc(), cpu_dnnl_engine(), const_cast<void*>(in));
  memory d(e.pd.dst_desc(), cpu_dnnl_engine(), dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, d}};
  if (!spec_.bias.empty() || spec_.src_signed) args[DNNL_ARG_BIAS] = e.bias;
  dnnl::stream st(cpu_dnnl_engine());
  execute_with_scratchpad(e.prim, e.pd, st, args);
}

std::string ConvInt8::impl_name(int N) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->get(spec_, N).pd.impl_info_str();
}

// ---- inner product ----

struct LinearInt8::Impl {
  std::vector<uint8_t> shifted;  // signed sources: s + 128 (see compensated_bias)
  struct Entry {
    dnnl::inner_product_forward::primitive_desc pd;
    dnnl::inner_product_forward prim;
    memory weights, bias;
  };
  std::mutex mu;
  std::map<std::pair<int, int>, Entry> by_batch;  // (batch, OpenMP threads): see cpu_dnnl.h
  Entry& get(const LinearInt8Spec& s, int N);
};

LinearInt8::Impl::Entry& LinearInt8::Impl::get(const LinearInt8Spec& s, int N) {
  const std::pair<int, int> key{N, cpu_threads()};
  auto it = by_batch.find(key);
  if (it != by_batch.end()) return it->second;
  if (by_batch.size() >= kMaxCached) by_batch.clear();
  memory::desc src({N, s.in}, dt::u8, tag::nc);
  memory::desc wei_any({s.out, s.in}, dt::s8, tag::any);
  memory::desc bias({s.out}, dt::f32, tag::x);
  memory::desc dst({N, s.out}, s.dst_u8 ? dt::u8 : dt::f32, tag::nc);
  using F = dnnl::inner_product_forward;
  const auto prop = dnnl::prop_kind::forward_inference;
  const bool has_bias = !s.bias.empty() || s.src_signed;
  F::desc d = !has_bias ? F::desc(prop, src, wei_any, dst) : F::desc(prop, src, wei_any, bias, dst);
  Entry e;
  e.pd = F::primitive_desc(d, output_attr(s.scales, s.relu), cpu_dnnl_engine());
  e.prim = F(e.pd);
  e.weights = reorder_weights({{s.out, s.in}, dt::s8, tag::oi}, s.weights, e.pd.weights_desc());
  if (s.src_signed)
    e.bias = bias_memory(compensated_bias(s.bias, s.weights, s.out), s.out);
  else if (has_bias)
    e.bias = bias_memory(s.bias, s.out);
  return by_batch.emplace(key, std::move(e)).first->second;
}

LinearInt8::LinearInt8(LinearInt8Spec spec) : spec_(std::move(spec)), impl_(new Impl) {
  PCHECK(spec_.in > 0 && spec_.out > 0, "int8 linear: empty layer");
  PCHECK(spec_.scales.size() == size_t(spec_.out), "int8 linear: one output scale per feature");
  PCHECK(spec_.weights.size() == size_t(spec_.out) * spec_.in, "int8 linear: weight size");
  PCHECK(spec_.bias.empty() || spec_.bias.size() == size_t(spec_.out), "int8 linear: bias size");
}
LinearInt8::~LinearInt8() = default;

void LinearInt8::run(int N, const void* src, void* dst) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& e = impl_->get(spec_, N);
  const void* in = src;
  if (spec_.src_signed) {
    auto& buf = impl_->shifted;
    buf.resize(size_t(N) * spec_.in);
    const auto* s8 = static_cast<const int8_t*>(src);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = uint8_t(int(s8[i]) + 128);
    in = buf.data();
  }
  memory s(e.pd.src_desc(), cpu_dnnl_engine(), const_cast<void*>(in));
  memory d(e.pd.dst_desc(), cpu_dnnl_engine(), dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, s}, {DNNL_ARG_WEIGHTS, e.weights}, {DNNL_ARG_DST, d}};
  if (!spec_.bias.empty() || spec_.src_signed) args[DNNL_ARG_BIAS] = e.bias;
  dnnl::stream st(cpu_dnnl_engine());
  execute_with_scratchpad(e.prim, e.pd, st, args);
}

// ---- element-wise helpers ----

void quantize_nchw_to_nhwc(const float* x, int N, int C, int HW, float scale, bool to_signed, void* dst) {
  const float lo = to_signed ? -127.f : 0.f, hi = to_signed ? 127.f : 255.f;
  auto q = [&](float v) { return std::min(hi, std::max(lo, std::nearbyint(v / scale))); };
  if (to_signed) {
    auto* y = static_cast<int8_t*>(dst);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; ++n)
      for (int p = 0; p < HW; ++p)
        for (int c = 0; c < C; ++c) y[(size_t(n) * HW + p) * C + c] = int8_t(q(x[(size_t(n) * C + c) * HW + p]));
  } else {
    auto* y = static_cast<uint8_t*>(dst);
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; ++n)
      for (int p = 0; p < HW; ++p)
        for (int c = 0; c < C; ++c) y[(size_t(n) * HW + p) * C + c] = uint8_t(q(x[(size_t(n) * C + c) * HW + p]));
  }
}

void dequantize_nhwc_to_nchw(const void* src, bool is_signed, int N, int C, int HW, float scale, float* y) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int p = 0; p < HW; ++p) {
        const size_t i = (size_t(n) * HW + p) * C + c;
        const float v =
            is_signed ? float(static_cast<const int8_t*>(src)[i]) : float(static_cast<const uint8_t*>(src)[i]);
        y[(size_t(n) * C + c) * HW + p] = scale * v;
      }
}

void maxpool_u8_nhwc(const uint8_t* x, const PoolGeometry& g, uint8_t* y) {
  const int C = g.C;
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < g.N; ++n)
    for (int p = 0; p < g.P; ++p)
      for (int q = 0; q < g.Q; ++q) {
        uint8_t* out = y + ((size_t(n) * g.P + p) * g.Q + q) * C;
        std::fill(out, out + C, uint8_t(0));  // inputs are >= 0; every window has one
        for (int r = 0; r < g.kh; ++r) {
          const int h = p * g.sh - g.ph + r;
          if (h < 0 || h >= g.H) continue;
          for (int s = 0; s < g.kw; ++s) {
            const int w = q * g.sw - g.pw + s;
            if (w < 0 || w >= g.W) continue;
            const uint8_t* in = x + ((size_t(n) * g.H + h) * g.W + w) * C;
#pragma omp simd
            for (int c = 0; c < C; ++c) out[c] = std::max(out[c], in[c]);
          }
        }
      }
}

void global_avgpool_u8_nhwc(const uint8_t* x, int N, int C, int HW, float scale, float* y) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    std::vector<uint32_t> acc(size_t(C), 0);
    for (int p = 0; p < HW; ++p) {
      const uint8_t* in = x + (size_t(n) * HW + p) * C;
#pragma omp simd
      for (int c = 0; c < C; ++c) acc[c] += in[c];
    }
    for (int c = 0; c < C; ++c) y[size_t(n) * C + c] = scale * (float(acc[c]) / float(HW));
  }
}

void residual_join_nhwc(const float* main, const void* short_q, bool short_signed, float short_scale,
                        const float* short_f, size_t n, bool relu, float out_scale, uint8_t* y_q, float* y_f) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    float sc;
    if (short_f)
      sc = short_f[i];
    else
      sc = short_scale * (short_signed ? float(static_cast<const int8_t*>(short_q)[i])
                                       : float(static_cast<const uint8_t*>(short_q)[i]));
    float v = main[i] + sc;
    if (relu) v = std::max(v, 0.f);
    if (out_scale > 0)
      y_q[i] = uint8_t(std::min(255.f, std::max(0.f, std::nearbyint(v / out_scale))));
    else
      y_f[i] = v;
  }
}

}  // namespace perceptra::int8
