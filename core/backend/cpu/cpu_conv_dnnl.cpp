// Convolution through oneDNN's convolution primitives (jit AVX-512/AVX2
// kernels on blocked layouts). Measured 1.3-4x faster than our im2col+sgemm
// per sample on the 16-64 channel layers of SimpleCNN and ResNet-small, the
// layout reorders included. Primitives are created once per geometry and
// cached; temporaries come from the backend's block cache, so steady-state
// training allocates nothing. Anything oneDNN refuses falls back to im2col
// (cpu_conv.cpp), which also stays the reference in tests; which of the two
// runs a shape is measured (cpu_conv_choice.cpp).
#include <dnnl.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_dnnl.h"
#include "core/backend/cpu/cpu_dnnl_scratchpad.h"
#include "core/backend/cpu/cpu_layouts.h"
#include "core/backend/cpu/cpu_kernel.h"
#include "core/backend/cpu/cpu_winograd.h"

namespace perceptra {

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

CpuConvImpl initial_impl() {
  const char* e = std::getenv("PERCEPTRA_CONV");
  if (e && std::strcmp(e, "im2col") == 0) return CpuConvImpl::Im2col;
  if (e && std::strcmp(e, "auto") == 0) return CpuConvImpl::Auto;
  // Not Auto by default: its timing-based choice can differ between two
  // processes, and the studio's int8 export must write what the CLI writes.
  return CpuConvImpl::OneDnn;
}
CpuConvImpl g_impl = initial_impl();
size_t g_chain_bytes = kConvChainBytes;

// Precision::BF16: sources, weights and output gradients in bfloat16 (the
// reorders into oneDNN's layouts round them), outputs and gradients float32.
// Our Winograd kernels are float32 and never see bf16 layouts.
bool bf16() { return cpu_precision() == Precision::BF16; }

bool g_dnnl_winograd = [] {
  const char* e = std::getenv("PERCEPTRA_DNNL_WINOGRAD");
  return !(e && std::strcmp(e, "0") == 0);
}();
// Whether a pass of g asks for oneDNN's Winograd (float32 only: oneDNN 2.6
// has no bf16 Winograd).
bool winograd_for(const ConvGeometry& g, ConvChoiceKey::Pass pass) {
  return g_dnnl_winograd && !bf16() && dnnl_winograd_suits(g, pass);
}

using Key = std::tuple<int, int, int, int, int, int, int, int, int, int, int, int, int, bool, int, int, int>;
// sum: the convolution adds its output to what dst holds (a residual
// shortcut) before the post-op. bf16_dst: the output is written in bfloat16
// (an inference chain's link whose reader takes bfloat16 anyway).
Key key_of(const ConvGeometry& g, bool bias, ConvPost post = ConvPost::None, bool sum = false, bool bf16_dst = false) {
  return {g.N,
          g.C,
          g.H,
          g.W,
          g.K,
          g.R,
          g.S,
          g.stride_h,
          g.stride_w,
          g.pad_h,
          g.pad_w,
          g.dil_h * 1000 + g.dil_w,
          g.groups,
          bias,
          static_cast<int>(post) + (sum ? 8 : 0) + (bf16() ? 16 : 0) + (g_dnnl_winograd ? 32 : 0) + (bf16_dst ? 64 : 0),
          g.in_block * 64 + g.out_block,
          cpu_threads()};  // see cpu_dnnl.h
}

struct Descs {
  memory::desc src, wei, bias, dst;        // the caller's float32 tensors
  memory::desc src_any, wei_any, dst_any;  // forward (dst float32)
  memory::desc dy_any, dx_any, dw_any;     // gradients (dy as src: bf16 under BF16)
  memory::dims strides, dilates, pad_l, pad_r;
  // oneDNN's Winograd asked for, per pass (dnnl_winograd_suits).
  bool winograd_forward = false, winograd_data = false, winograd_weights = false;
};

// A primitive descriptor made by make(algorithm): with oneDNN's Winograd when
// asked, falling back to its direct kernels where oneDNN refuses Winograd (no
// AVX-512, a padding or post-op it does not take) or where Winograd's
// scratchpad would pass kMaxWinogradScratchpadBytes (cpu_conv_impl.h).
template <class Make>
auto winograd_or_direct(bool winograd, Make make) {
  if (winograd) {
    try {
      auto pd = make(dnnl::algorithm::convolution_winograd);
      if (pd.scratchpad_desc().get_size() <= kMaxWinogradScratchpadBytes) return pd;
    } catch (const dnnl::error&) {}
  }
  return make(dnnl::algorithm::convolution_direct);
}

// False when the geometry has no oneDNN equivalent we trust. Grouped and
// depthwise convolutions see our [K, C/groups, R, S] weights as oneDNN's
// goihw [groups, K/groups, C/groups, R, S] (the same bytes); oneDNN has jit
// depthwise kernels, where im2col would run one tiny sgemm per channel.
// The caller's layout for a channel block (ConvGeometry::in_block, out_block).
bool plain_tag(int block, tag& t) {
  t = block == 1 ? tag::nchw : block == 8 ? tag::nChw8c : block == 16 ? tag::nChw16c : tag::undef;
  return t != tag::undef;
}

bool make_descs(const ConvGeometry& g, Descs& d) {
  if (g.groups < 1 || g.C % g.groups || g.K % g.groups) return false;
  tag src_tag, dst_tag;
  if (!plain_tag(g.in_block, src_tag) || !plain_tag(g.out_block, dst_tag)) return false;
  // Right padding that yields exactly P x Q outputs. Floor-mode rounding can
  // make the exact value negative (1x1 stride 2 on 28: -1); zero works too
  // whenever it still gives the same count.
  const int eff_h = (g.R - 1) * g.dil_h + 1, eff_w = (g.S - 1) * g.dil_w + 1;
  const int pr_h = std::max(0, (g.P - 1) * g.stride_h + eff_h - g.H - g.pad_h);
  const int pr_w = std::max(0, (g.Q - 1) * g.stride_w + eff_w - g.W - g.pad_w);
  if ((g.H + g.pad_h + pr_h - eff_h) / g.stride_h + 1 != g.P || (g.W + g.pad_w + pr_w - eff_w) / g.stride_w + 1 != g.Q)
    return false;
  memory::dims src{g.N, g.C, g.H, g.W}, dst{g.N, g.K, g.P, g.Q}, b{g.K};
  const bool grouped = g.groups > 1;
  memory::dims wei =
      grouped ? memory::dims{g.groups, g.K / g.groups, g.C / g.groups, g.R, g.S} : memory::dims{g.K, g.C, g.R, g.S};
  d.src = {src, dt::f32, src_tag};
  d.wei = {wei, dt::f32, grouped ? tag::goihw : tag::oihw};
  d.dst = {dst, dt::f32, dst_tag};
  d.bias = {b, dt::f32, tag::x};
  const dt in = bf16() ? dt::bf16 : dt::f32;
  d.src_any = {src, in, tag::any};
  d.wei_any = {wei, in, tag::any};
  d.dst_any = {dst, dt::f32, tag::any};
  d.dy_any = {dst, in, tag::any};
  d.dx_any = {src, dt::f32, tag::any};
  d.dw_any = {wei, dt::f32, tag::any};
  d.strides = {g.stride_h, g.stride_w};
  d.dilates = {g.dil_h - 1, g.dil_w - 1};  // oneDNN counts dilation from 0
  d.pad_l = {g.pad_h, g.pad_w};
  d.pad_r = {pr_h, pr_w};
  d.winograd_forward = winograd_for(g, ConvChoiceKey::Forward);
  d.winograd_data = winograd_for(g, ConvChoiceKey::BackwardData);
  d.winograd_weights = winograd_for(g, ConvChoiceKey::BackwardWeights);
  return true;
}

// post: the ReLU / ReLU6 runs as a post-op while the output is still in
// registers, instead of another pass over memory (ReLU6 is oneDNN's clip to
// [0, 6]: MobileNetV2 has one after all but its projection convolutions). forward_training even for inference:
// with forward_inference oneDNN 2.6 picks brgconv on NHWC here, which with
// the NCHW reorders measured ~1.5x slower than jit on nChw16c.
dnnl::convolution_forward::primitive_desc forward_pd(const Descs& d, bool bias, ConvPost post = ConvPost::None,
                                                     bool sum = false, bool bf16_dst = false) {
  using F = dnnl::convolution_forward;
  const auto prop = dnnl::prop_kind::forward_training;
  dnnl::primitive_attr attr = caller_scratchpad_attr();
  if (post != ConvPost::None || sum) {
    dnnl::post_ops ops;
    if (sum) ops.append_sum(1.f);  // dst = conv + dst, then the activation
    append_post_activation(ops, post);
    attr.set_post_ops(ops);
  }
  const memory::desc dst = bf16_dst ? memory::desc(d.dst_any.dims(), dt::bf16, tag::any) : d.dst_any;
  return winograd_or_direct(d.winograd_forward, [&](dnnl::algorithm alg) {
    F::desc desc = bias ? F::desc(prop, alg, d.src_any, d.wei_any, d.bias, dst, d.strides, d.dilates, d.pad_l, d.pad_r)
                        : F::desc(prop, alg, d.src_any, d.wei_any, dst, d.strides, d.dilates, d.pad_l, d.pad_r);
    return F::primitive_desc(desc, attr, cpu_dnnl_engine());
  });
}

dnnl::convolution_backward_data::primitive_desc backward_data_pd(
    const Descs& d, const dnnl::convolution_forward::primitive_desc& hint) {
  using BD = dnnl::convolution_backward_data;
  return winograd_or_direct(d.winograd_data, [&](dnnl::algorithm alg) {
    return BD::primitive_desc(BD::desc(alg, d.dx_any, d.wei_any, d.dy_any, d.strides, d.dilates, d.pad_l, d.pad_r),
                              caller_scratchpad_attr(), cpu_dnnl_engine(), hint);
  });
}

dnnl::convolution_backward_weights::primitive_desc backward_weights_pd(
    const Descs& d, bool bias, const dnnl::convolution_forward::primitive_desc& hint) {
  using BW = dnnl::convolution_backward_weights;
  return winograd_or_direct(d.winograd_weights, [&](dnnl::algorithm alg) {
    BW::desc wd = bias ? BW::desc(alg, d.src_any, d.dw_any, d.bias, d.dy_any, d.strides, d.dilates, d.pad_l, d.pad_r)
                       : BW::desc(alg, d.src_any, d.dw_any, d.dy_any, d.strides, d.dilates, d.pad_l, d.pad_r);
    return BW::primitive_desc(wd, caller_scratchpad_attr(), cpu_dnnl_engine(), hint);
  });
}

struct Forward {
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
};
struct Backward {
  bool has_data = false;
  dnnl::convolution_backward_data::primitive_desc data_pd;
  dnnl::convolution_backward_data data;
  dnnl::convolution_backward_weights::primitive_desc weights_pd;
  dnnl::convolution_backward_weights weights;
};

// Caches and one lock: oneDNN primitives share a scratchpad, so executions
// are serialised (they use all threads anyway).
std::mutex g_mu;
std::map<Key, std::unique_ptr<Forward>> g_forward;
std::map<Key, std::unique_ptr<Backward>> g_backward;
constexpr size_t kMaxCached = 64;  // geometries (batch sizes differ at epoch ends)

template <class Map>
void bound(Map& m) {
  if (m.size() >= kMaxCached) m.clear();
}

// Temporaries come from the backend's block cache (CpuScratch).
using Temp = CpuScratch;

void copy_out(const memory& from, const memory& user, dnnl::stream& s) {
  if (from.get_desc() == user.get_desc()) return;
  cpu_reorder(from, user, s);
}

float* mut(const float* p) { return const_cast<float*>(p); }
const float* data_of(const memory& m) { return static_cast<const float*>(m.get_data_handle()); }

// The cached forward primitive for a geometry (created on first use). Call
// with g_mu held.
Forward& forward_for(const ConvGeometry& g, const Descs& d, bool bias, ConvPost post, bool sum = false,
                     bool bf16_dst = false) {
  const Key key = key_of(g, bias, post, sum, bf16_dst);
  auto it = g_forward.find(key);
  if (it == g_forward.end()) {
    bound(g_forward);
    auto f = std::make_unique<Forward>();
    f->pd = forward_pd(d, bias, post, sum, bf16_dst);
    f->prim = dnnl::convolution_forward(f->pd);
    it = g_forward.emplace(key, std::move(f)).first;
  }
  return *it->second;
}

// Max pooling of a chain link's output, in the layout its convolution
// wrote (inference: no workspace). Padded cells never win, as in PyTorch.
struct Pool {
  dnnl::pooling_forward::primitive_desc pd;
  dnnl::pooling_forward prim;
};
using PoolKey = std::tuple<Key, int, int, int, int, int, int>;
std::map<PoolKey, std::unique_ptr<Pool>> g_pool;

// Call with g_mu held. `conv` is the key of the convolution whose output
// (`src`, in its chosen layout) is pooled.
Pool& pool_for(const PoolGeometry& p, const memory::desc& src, const Key& conv) {
  const PoolKey key{conv, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw};
  auto it = g_pool.find(key);
  if (it == g_pool.end()) {
    bound(g_pool);
    // Right padding that yields exactly P x Q (floor mode), as for convolutions.
    const int pr_h = std::max(0, (p.P - 1) * p.sh + p.kh - p.H - p.ph);
    const int pr_w = std::max(0, (p.Q - 1) * p.sw + p.kw - p.W - p.pw);
    memory::desc dst({p.N, p.C, p.P, p.Q}, dt::f32, tag::any);
    dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src, dst,
                                     {p.sh, p.sw}, {p.kh, p.kw}, {p.ph, p.pw}, {pr_h, pr_w});
    auto q = std::make_unique<Pool>();
    q->pd = dnnl::pooling_forward::primitive_desc(desc, caller_scratchpad_attr(), cpu_dnnl_engine());
    q->prim = dnnl::pooling_forward(q->pd);
    it = g_pool.emplace(key, std::move(q)).first;
  }
  return *it->second;
}

// 8 or 16 when `d` is the channel-blocked layout nChw8c / nChw16c of a
// tensor of these dims, else 0.
int channel_block(const memory::desc& d, const memory::dims& dims) {
  if (d == memory::desc(dims, dt::f32, tag::nChw8c)) return 8;
  if (d == memory::desc(dims, dt::f32, tag::nChw16c)) return 16;
  return 0;
}

}  // namespace

namespace {
bool initial_blocked() {
  const char* e = std::getenv("PERCEPTRA_BLOCKED");
  return !(e && std::strcmp(e, "0") == 0);
}
bool g_blocked = initial_blocked();
}  // namespace

void set_cpu_blocked_activations(bool on) { g_blocked = on; }
bool cpu_blocked_activations() { return g_blocked; }

// The block oneDNN's float32 convolutions choose on this CPU (nChw16c with
// AVX-512, nChw8c with AVX2), so a convolution's output stays where it was
// written and the next convolution reads it without a reorder.
int CpuBackend::activation_channel_block(int channels) const {
  if (!g_blocked || g_impl == CpuConvImpl::Im2col) return 1;
  const int b = cpu_isa_has(dnnl_cpu_isa_avx512_core) ? 16 : cpu_isa_has(dnnl_cpu_isa_avx2) ? 8 : 1;
  return b > 1 && channels % b == 0 ? b : 1;
}

void set_cpu_conv_impl(CpuConvImpl impl) { g_impl = impl; }
void set_conv_chain_bytes(size_t bytes) { g_chain_bytes = bytes; }
CpuConvImpl cpu_conv_impl() { return g_impl; }
void set_dnnl_winograd(bool on) { g_dnnl_winograd = on; }

DnnlConvImpls dnnl_conv_impls(const ConvGeometry& g) {
  DnnlConvImpls r;
  Descs d;
  if (g_impl == CpuConvImpl::Im2col || !make_descs(g, d)) return r;
  try {
    auto hint = forward_pd(d, false);
    r.forward = hint.impl_info_str();
    r.backward_data = backward_data_pd(d, hint).impl_info_str();
    r.backward_weights = backward_weights_pd(d, false, hint).impl_info_str();
  } catch (const dnnl::error&) {}
  return r;
}
bool dnnl_winograd() { return g_dnnl_winograd; }

CpuConvImpl default_cpu_conv_impl() { return initial_impl(); }

bool dnnl_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                       ConvPost post) {
  if (g_impl == CpuConvImpl::Im2col) return false;
  Descs d;
  if (!make_descs(g, d)) return false;
  std::lock_guard<std::mutex> lk(g_mu);
  try {
    Forward& f = forward_for(g, d, bias != nullptr, post);
    dnnl::stream s(cpu_dnnl_engine());
    memory xu(d.src, cpu_dnnl_engine(), mut(x)), wu(d.wei, cpu_dnnl_engine(), mut(w)), yu(d.dst, cpu_dnnl_engine(), y);
    Temp tx, tw, ty;
    memory xm = as_layout(f.pd.src_desc(), xu, true, tx, s);
    const int bx = channel_block(xm.get_desc(), d.src.dims());
    if (winograd_forward_suits(g, bx, g.out_block)) {  // ours: fewer multiply-adds, output straight to y's layout
      s.wait();
      winograd_conv_forward_blocked(g, bx, data_of(xm), w, bias, post, nullptr, g.out_block, y);
      return true;
    }
    memory ym = as_layout(f.pd.dst_desc(), yu, false, ty, s);
    memory wm = as_layout(f.pd.weights_desc(), wu, true, tw, s);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}};
    if (bias) args.emplace(DNNL_ARG_BIAS, memory(d.bias, cpu_dnnl_engine(), mut(bias)));
    execute_with_scratchpad(f.prim, f.pd, s, args);
    copy_out(ym, yu, s);
    s.wait();
    return true;
  } catch (const dnnl::error&) {
    return false;  // im2col handles it
  }
}

namespace {

// What a chain's sub-batches share, per link: the weights prepared by the
// first sub-batch that needs them (Winograd's filters, oneDNN's layout of the
// convolution's and the projection's weights), reused by the others.
struct ChainWeights {
  explicit ChainWeights(int n) : filters(size_t(n)), conv(size_t(n)), proj(size_t(n)) {}
  std::vector<WinogradFilters> filters;
  std::vector<memory> conv, proj;
};

// The weights `w` (laid out as `user`) in the layout a primitive wants: as
// they are when that is theirs, else reordered once per held pass
// (cpu_layouts.h), or once per chain call (kept). Per call, ResNet-18's
// 512 x 512 x 3 x 3 reorders took ~7 ms each at batch 16, ~6 % of its
// inference.
memory weights_as(const memory::desc& want, const memory::desc& user, const float* w, memory& kept, dnnl::stream& s) {
  memory wu(user, cpu_dnnl_engine(), mut(w));
  if (want == user) return wu;
  if (memory held = held_weights(w, want, [&](const memory& to) { cpu_reorder(wu, to, s); })) return held;
  if (!kept || kept.get_desc() != want) {
    kept = memory(want, cpu_dnnl_engine());
    cpu_reorder(wu, kept, s);
  }
  return kept;
}

// One sub-batch of a chain (all links' N equal).
// call_n: the images of the whole chain call, whose sub-batches share the
// Winograd filters transformed for it.
// x and y in plain NCHW (block 1) or nChw8c / nChw16c (8, 16); *yb 0: y in
// the block the last link writes, which is then stored there.
bool chain_forward_batch(int n, const ConvLink* links, const float* x, int xb, float* y, int* yb, ChainWeights& weights,
                         int call_n) {
  std::vector<Descs> d(static_cast<size_t>(n)), pd(static_cast<size_t>(n));  // pd: projections
  for (int i = 0; i < n; ++i) {
    const ConvLink& l = links[i];
    if (!make_descs(l.g, d[size_t(i)])) return false;
    const PoolGeometry& p = l.pool;
    if (l.pooled() && (p.N != l.g.N || p.C != l.g.K || p.H != l.g.P || p.W != l.g.Q)) return false;
    if (!conv_link_shortcut_fits(links, i)) return false;
    if (l.residual() && l.proj_w && !make_descs(l.proj_g, pd[size_t(i)])) return false;
    if (i == 0) continue;
    // Not a chain: the caller's shapes are wrong, and link by link will say so.
    const ConvLink& prev = links[i - 1];
    const int pc = prev.g.K, ph = prev.pooled() ? prev.pool.P : prev.g.P, pw = prev.pooled() ? prev.pool.Q : prev.g.Q;
    if (l.g.N != prev.g.N || l.g.C != pc || l.g.H != ph || l.g.W != pw) return false;
  }
  std::lock_guard<std::mutex> lk(g_mu);
  try {
    // Every link's primitives first: a cache may be cleared while filling,
    // and a clear must not drop a primitive this chain already holds.
    std::vector<Forward*> f(static_cast<size_t>(n)), proj(static_cast<size_t>(n), nullptr);
    std::vector<Pool*> pools(static_cast<size_t>(n), nullptr);
    // Under BF16 a link whose only readers are later links (not pooled, not
    // the last) writes bfloat16: they round their input to bfloat16 anyway,
    // and a float32 output cost a reorder per link (~22 % of ResNet-small's
    // bf16 inference in oneDNN's verbose log). Shortcuts are then summed
    // from bfloat16 too, as under PyTorch's bf16 autocast.
    auto bf16_out = [&](int i) { return bf16() && i < n - 1 && !links[i].pooled(); };
    for (int pass = 0; pass < 2; ++pass)
      for (int i = 0; i < n; ++i) {
        const ConvLink& l = links[i];
        f[size_t(i)] = &forward_for(l.g, d[size_t(i)], l.bias != nullptr, l.post, l.residual(), bf16_out(i));
        if (l.proj_w && l.residual())
          proj[size_t(i)] =
              &forward_for(l.proj_g, pd[size_t(i)], l.proj_bias != nullptr, ConvPost::None, false, bf16_out(i));
        if (l.pooled())
          pools[size_t(i)] = &pool_for(l.pool, f[size_t(i)]->pd.dst_desc(), key_of(l.g, l.bias != nullptr, l.post));
      }
    dnnl::stream s(cpu_dnnl_engine());
    // Temporaries by owner: group k holds link k's input (link k-1's outputs
    // and their reorders) and is given back after the last link that reads
    // it (link k, or a later block's shortcut); group n + 1 is one link's own
    // scratch. The block cache then hands the next link a buffer still warm
    // in cache: with every output kept to the end, ResNet-small's 13 links
    // each wrote a cold 6.4 MB buffer, ~0.5 ms more per convolution.
    std::deque<Temp> temps;
    std::vector<std::vector<Temp*>> groups(static_cast<size_t>(n) + 2);
    const int scratch = n + 1;
    const std::vector<int> last_use = conv_chain_last_use(n, links);
    auto take = [&](int group) -> Temp& {
      temps.emplace_back();
      groups[size_t(group)].push_back(&temps.back());
      return temps.back();
    };
    auto release = [&](int group) {
      for (Temp* p : groups[size_t(group)]) p->reset();
      groups[size_t(group)].clear();
    };
    auto temp = [&](const memory::desc& want, int group) {
      return memory(want, cpu_dnnl_engine(), take(group).get_bytes(want.get_size()));
    };
    auto in_block = [](const memory::dims& dims, int b) {
      return memory::desc(dims, dt::f32, b == 16 ? tag::nChw16c : b == 8 ? tag::nChw8c : tag::nchw);
    };
    memory xu(in_block(d[0].src.dims(), xb), cpu_dnnl_engine(), mut(x));
    memory cur = as_layout(f[0]->pd.src_desc(), xu, true, take(0), s);
    const ConvLink& last = links[n - 1];
    if (*yb == 0) *yb = std::max(1, channel_block(f[size_t(n - 1)]->pd.dst_desc(), d[size_t(n - 1)].dst.dims()));
    const memory::dims y_dims =
        last.pooled() ? memory::dims{last.pool.N, last.pool.C, last.pool.P, last.pool.Q} : d[size_t(n - 1)].dst.dims();
    memory yu(in_block(y_dims, *yb), cpu_dnnl_engine(), y);
    std::vector<memory> inputs(static_cast<size_t>(n));  // each link's input, for shortcuts
    auto in_layout = [&](const memory& m, const memory::desc& want, int group) {
      if (m.get_desc() == want) return m;
      memory r = temp(want, group);
      cpu_reorder(m, r, s);
      return r;
    };
    for (int i = 0; i < n; ++i) {
      const ConvLink& l = links[i];
      Forward& fi = *f[size_t(i)];
      cur = in_layout(cur, fi.pd.src_desc(), i);  // the layouts two links chose may differ
      inputs[size_t(i)] = cur;
      const bool to_y = i == n - 1 && !l.pooled();
      const int bx = channel_block(cur.get_desc(), {l.g.N, l.g.C, l.g.H, l.g.W});
      const int by = channel_block(fi.pd.dst_desc(), {l.g.N, l.g.K, l.g.P, l.g.Q});
      // Ours: 2.25-4x fewer multiply-adds. Whether a wide layer has tiles
      // enough to pay for its filter transform counts the whole call's: the
      // filters are transformed once per call, not per sub-batch; in a held
      // pass, once for the pass (any batch pays).
      ConvGeometry whole = l.g;
      whole.N = call_n;
      const bool winograd = winograd_forward_suits(whole, bx, by, weights_held());
      // An identity shortcut read here for the last time, already in this
      // link's output layout, takes the sum in its own buffer (a chain
      // temporary, never the caller's x, nor this link's own input): no copy
      // into a new output.
      const int rf = l.residual_from;
      const bool in_place = l.residual() && !proj[size_t(i)] && !winograd && !to_y && rf > 0 && rf < i &&
                            last_use[size_t(rf)] == i && inputs[size_t(rf)].get_desc() == fi.pd.dst_desc();
      // Ours pools in its output transform: the convolution's output is
      // never written, nor read back by a pooling pass.
      const bool winograd_pools = winograd && l.pooled() && !l.residual() && winograd_forward_pools(l.g, l.pool, by);
      auto pooled = [&] {
        const memory::desc want({l.pool.N, l.pool.C, l.pool.P, l.pool.Q}, dt::f32,
                                by == 16 ? tag::nChw16c : tag::nChw8c);
        return i == n - 1 ? as_layout(want, yu, false, take(i + 1), s) : temp(want, i + 1);
      };
      memory out = winograd_pools ? pooled()
                   : to_y         ? as_layout(fi.pd.dst_desc(), yu, false, take(i + 1), s)
                   : in_place     ? inputs[size_t(rf)]
                                  : temp(fi.pd.dst_desc(), i + 1);
      if (in_place) {  // its buffer now lives as long as this link's output
        auto& from = groups[size_t(rf)];
        groups[size_t(i) + 1].insert(groups[size_t(i) + 1].end(), from.begin(), from.end());
        from.clear();
      }
      const float* add = nullptr;  // Winograd's shortcut
      if (l.residual()) {          // out = the shortcut, which the convolution's sum post-op adds to
        memory& from = inputs[size_t(rf)];
        add = winograd ? data_of(out) : nullptr;
        if (Forward* fp = proj[size_t(i)]) {
          memory src = in_layout(from, fp->pd.src_desc(), scratch);
          memory pw = weights_as(fp->pd.weights_desc(), pd[size_t(i)].wei, l.proj_w, weights.proj[size_t(i)], s);
          const bool direct = fp->pd.dst_desc() == out.get_desc();
          memory pout = direct ? out : temp(fp->pd.dst_desc(), scratch);
          std::unordered_map<int, memory> pargs{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, pw}, {DNNL_ARG_DST, pout}};
          if (l.proj_bias)
            pargs.emplace(DNNL_ARG_BIAS, memory(pd[size_t(i)].bias, cpu_dnnl_engine(), mut(l.proj_bias)));
          execute_with_scratchpad(fp->prim, fp->pd, s, pargs);
          if (!direct) cpu_reorder(pout, out, s);
        } else if (winograd && from.get_desc() == out.get_desc()) {
          add = data_of(from);  // read where it is: no copy into `out`
        } else if (!in_place) {
          cpu_reorder(from, out, s);
        }
      }
      ConvGeometry one = l.g;  // a first layer on grey images: ours, from the caller's x
      one.in_block = 1;
      one.out_block = by;
      if (i == 0 && xb == 1 && !l.residual() && l.g.in_block == 1 && by &&
          one_channel_blocked_forward(one, x, l.w, l.bias, l.post, mut(data_of(out)))) {
        // written (oneDNN's kernel for one input channel is the slow one)
      } else if (winograd) {
        s.wait();  // a projected shortcut is in `out`
        const WinogradFilters* f = winograd_held_filters(l.g, l.w);
        if (!f) {
          WinogradFilters& own = weights.filters[size_t(i)];
          if (!own.tile) winograd_prepare_filters(l.g, l.w, own);
          f = &own;
        }
        winograd_conv_forward_blocked(l.g, bx, data_of(cur), l.w, l.bias, l.post, add, by, mut(data_of(out)), f,
                                      winograd_pools ? &l.pool : nullptr);
      } else {
        memory wm = weights_as(fi.pd.weights_desc(), d[size_t(i)].wei, l.w, weights.conv[size_t(i)], s);
        std::unordered_map<int, memory> args{{DNNL_ARG_SRC, cur}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, out}};
        if (l.bias) args.emplace(DNNL_ARG_BIAS, memory(d[size_t(i)].bias, cpu_dnnl_engine(), mut(l.bias)));
        execute_with_scratchpad(fi.prim, fi.pd, s, args);
      }
      cur = out;
      if (l.pooled() && !winograd_pools) {
        const PoolGeometry& pg = l.pool;
        const int block = channel_block(cur.get_desc(), {pg.N, pg.C, pg.H, pg.W});
        if (block) {  // ours: oneDNN 2.6 pooling took ~3x longer here
          const memory::desc want({pg.N, pg.C, pg.P, pg.Q}, dt::f32, block == 8 ? tag::nChw8c : tag::nChw16c);
          memory pooled = i == n - 1 ? as_layout(want, yu, false, take(i + 1), s) : temp(want, i + 1);
          s.wait();  // the convolution has written `cur`
          maxpool2d_forward_blocked(pg, block, static_cast<const float*>(cur.get_data_handle()),
                                    static_cast<float*>(pooled.get_data_handle()));
          cur = pooled;
        } else {
          Pool& p = *pools[size_t(i)];
          memory pooled =
              i == n - 1 ? as_layout(p.pd.dst_desc(), yu, false, take(i + 1), s) : temp(p.pd.dst_desc(), i + 1);
          execute_with_scratchpad(p.prim, p.pd, s, {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, pooled}});
          cur = pooled;
        }
      }
      s.wait();  // before anything this link read goes back to the cache
      release(scratch);
      for (int k = 0; k <= i; ++k)
        if (last_use[size_t(k)] == i) release(k);
    }
    copy_out(cur, yu, s);
    s.wait();
    return true;
  } catch (const dnnl::error&) {
    return false;  // link by link
  }
}

// A link's output bytes per image (and its pooling's).
size_t link_image_bytes(const ConvLink& l) {
  size_t floats = size_t(l.g.K) * l.g.P * l.g.Q;
  if (l.pooled()) floats += size_t(l.pool.C) * l.pool.P * l.pool.Q;
  return sizeof(float) * floats;
}

// A link's filter bytes (and its projection's).
size_t link_weight_bytes(const ConvLink& l) {
  size_t floats = size_t(l.g.K) * (l.g.C / std::max(1, l.g.groups)) * l.g.R * l.g.S;
  if (l.residual() && l.proj_w) floats += size_t(l.proj_g.K) * (l.proj_g.C / std::max(1, l.proj_g.groups));
  return sizeof(float) * floats;
}

// Chains run whole below this many images per sub-batch only when no split
// helps (conv_chain_split).
constexpr int kChainSplitBelow = 8;

// Images per sub-batch: a whole batch's intermediate outputs overflow the
// caches (SimpleCNN's first convolution writes 25 MB at N = 256, and its
// pooling then read them back from memory at ~4 GB/s), so the chain runs on
// sub-batches whose link outputs together fit in kConvChainBytes (SimpleCNN:
// 2 x 64 images per batch of 128, ResNet-small 4 x 32). oneDNN time of
// SimpleCNN's chain on 10,000 images (verbose log): 1,148 ms at N = 128,
// 1,025 ms at 64, 1,096 ms at 32 (per-call overheads grow below that).
int chain_sub_batch(int n, const ConvLink* links) {
  size_t per_image = 0;
  for (int i = 0; i < n; ++i) per_image += link_image_bytes(links[i]);
  const int N = links[0].g.N;
  const int most = int(std::max<size_t>(1, g_chain_bytes / std::max<size_t>(per_image, 1)));
  const int chunks = (N + most - 1) / most;
  return (N + chunks - 1) / chunks;  // balanced: at most two sizes of primitives
}

}  // namespace

int conv_chain_split(int n, const ConvLink* links) {
  const int whole = chain_sub_batch(n, links);
  if (whole >= kChainSplitBelow) return 0;
  for (int k = 1; k < n; ++k) {
    // The boundary stays blocked: whole blocks of 8 and 16 channels, so an
    // image's floats are contiguous and unpadded.
    if (links[k - 1].g.K % 16) continue;
    bool crossed = false;  // a shortcut from before k to a link from k on
    size_t weights = 0, images = 0;
    for (int j = k; j < n; ++j) {
      const ConvLink& l = links[j];
      crossed = crossed || (l.residual() && l.residual_from < k);
      weights += link_weight_bytes(l);
      images += link_image_bytes(l);
    }
    // Only where the rest reads more weights than it writes outputs per
    // call (ResNet-18's 256- and 512-channel 3x3 layers one image at a time:
    // 2.4-9.4 MB of filters for 0.1-0.2 MB of output); elsewhere the
    // boundary's pass through memory cost more than the larger calls gained
    // (MobileNetV2, interleaved: -5 %).
    if (!crossed && weights > size_t(whole) * images && chain_sub_batch(n - k, links + k) >= 2 * whole) return k;
  }
  return 0;
}

namespace {

// dnnl_conv_chain_forward with x in block xb and y in *yb (as
// chain_forward_batch).
bool chain_forward(int n, const ConvLink* links, const float* x, int xb, float* y, int* yb) {
  // One sub-batch for every link is set by the largest outputs: ResNet-18's
  // chain (224x224, 16 images) ran every link after its stem one image at a
  // time, re-reading each deep layer's filters per image (oneDNN's stride-2
  // 3x3 at 55-63 % of the peak there). Split where conv_chain_split says:
  // each part its own sub-batch, the boundary kept in its blocked layout.
  // Interleaved in one process, ResNet-18 inference 1.05-1.16x (medians of
  // 15); through NCHW, MobileNetV2's boundary reorders had cost more than
  // the larger sub-batches gained.
  if (const int k = conv_chain_split(n, links)) {
    std::vector<ConvLink> rest(links + k, links + n);
    for (ConvLink& l : rest)
      if (l.residual()) l.residual_from -= k;
    CpuScratch mid(links[k - 1].out_floats());
    int mb = 0;
    return chain_forward(k, links, x, xb, mid.data(), &mb) && chain_forward(n - k, rest.data(), mid.data(), mb, y, yb);
  }
  const int N = links[0].g.N, sub = chain_sub_batch(n, links);
  ChainWeights weights(n);
  if (sub >= N) return chain_forward_batch(n, links, x, xb, y, yb, weights, N);
  for (int i = 0; i < n; ++i)  // shapes chain_forward_batch would reject anyway
    if (links[i].g.N != N || (links[i].pooled() && links[i].pool.N != N) ||
        (links[i].residual() && links[i].proj_w && links[i].proj_g.N != N))
      return false;
  const ConvLink& first = links[0];
  const ConvLink& last = links[n - 1];
  const size_t in_image = size_t(first.g.C) * first.g.H * first.g.W;
  const size_t out_image =
      last.pooled() ? size_t(last.pool.C) * last.pool.P * last.pool.Q : size_t(last.g.K) * last.g.P * last.g.Q;
  std::vector<ConvLink> part(links, links + n);
  for (int start = 0; start < N; start += sub) {
    const int m = std::min(sub, N - start);
    for (ConvLink& l : part) {
      l.g.N = m;
      if (l.pooled()) l.pool.N = m;
      if (l.residual() && l.proj_w) l.proj_g.N = m;
    }
    if (!chain_forward_batch(n, part.data(), x + in_image * start, xb, y + out_image * start, yb, weights, N))
      return false;
  }
  return true;
}

}  // namespace

bool dnnl_conv_chain_forward(int n, const ConvLink* links, const float* x, float* y) {
  // Longer chains go link by link: the primitive caches (kMaxCached) must
  // hold a whole chain at once.
  if (g_impl == CpuConvImpl::Im2col || n < 1 || n > 16) return false;
  int yb = 1;
  return chain_forward(n, links, x, 1, y, &yb);
}

bool dnnl_conv_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy, float* dx, float* dw,
                        float* db, const float* dx_add, bool* added) {
  if (g_impl == CpuConvImpl::Im2col) return false;
  Descs d;
  if (!make_descs(g, d)) return false;
  std::lock_guard<std::mutex> lk(g_mu);
  try {
    const Key key = key_of(g, db != nullptr);
    auto it = g_backward.find(key);
    if (it == g_backward.end()) {
      bound(g_backward);
      auto b = std::make_unique<Backward>();
      auto hint = forward_pd(d, db != nullptr);
      b->data_pd = backward_data_pd(d, hint);
      b->data = dnnl::convolution_backward_data(b->data_pd);
      b->has_data = true;
      b->weights_pd = backward_weights_pd(d, db != nullptr, hint);
      b->weights = dnnl::convolution_backward_weights(b->weights_pd);
      it = g_backward.emplace(key, std::move(b)).first;
    }
    Backward& b = *it->second;
    dnnl::stream s(cpu_dnnl_engine());
    memory xu(d.src, cpu_dnnl_engine(), mut(x)), wu(d.wei, cpu_dnnl_engine(), mut(w)),
        dyu(d.dst, cpu_dnnl_engine(), mut(dy));
    memory dwu(d.wei, cpu_dnnl_engine(), dw);
    // dy in the blocked layout is wanted by both primitives (the same layout
    // in practice): reorder it once, not twice.
    Temp tdy, tdy2;
    memory dym = as_layout(b.weights_pd.diff_dst_desc(), dyu, true, tdy, s);
    if (dw) {  // weight (and bias) gradients, overwritten
      Temp tx, tdw;
      memory xm = as_layout(b.weights_pd.src_desc(), xu, true, tx, s);
      const int bx = channel_block(xm.get_desc(), d.src.dims()), by = channel_block(dym.get_desc(), d.dst.dims());
      if (cpu_winograd() && bx && by && winograd_applies(g)) {
        s.wait();
        winograd_conv_backward_weights_blocked(g, bx, data_of(xm), by, data_of(dym), dw, db);
      } else {
        memory dwm = as_layout(b.weights_pd.diff_weights_desc(), dwu, false, tdw, s);
        std::unordered_map<int, memory> args{
            {DNNL_ARG_SRC, xm}, {DNNL_ARG_DIFF_DST, dym}, {DNNL_ARG_DIFF_WEIGHTS, dwm}};
        if (db) args.emplace(DNNL_ARG_DIFF_BIAS, memory(d.bias, cpu_dnnl_engine(), db));
        execute_with_scratchpad(b.weights, b.weights_pd, s, args);
        copy_out(dwm, dwu, s);
      }
      s.wait();
    }
    if (dx) {
      memory dxu(d.src, cpu_dnnl_engine(), dx);
      Temp tw, tdx;
      memory dym_data =
          b.data_pd.diff_dst_desc() == dym.get_desc() ? dym : as_layout(b.data_pd.diff_dst_desc(), dyu, true, tdy2, s);
      const int by = channel_block(dym_data.get_desc(), d.dst.dims());
      if (cpu_winograd() && by && winograd_applies(winograd_backward_data_geometry(g))) {
        s.wait();
        const bool add = dx_add && g.in_block > 1;  // NCHW outputs take no add
        winograd_conv_backward_data_blocked(g, by, data_of(dym_data), w, g.in_block, dx, add ? dx_add : nullptr);
        if (added) *added = add;
      } else if (!bf16() && pointwise_strided_backward_data_applies(g, by)) {
        s.wait();
        pointwise_strided_backward_data_blocked(g, data_of(dym_data), w, dx);
      } else {
        memory dxm = as_layout(b.data_pd.diff_src_desc(), dxu, false, tdx, s);
        memory wm = as_layout(b.data_pd.weights_desc(), wu, true, tw, s);
        execute_with_scratchpad(b.data, b.data_pd, s,
                                {{DNNL_ARG_DIFF_DST, dym_data}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DIFF_SRC, dxm}});
        copy_out(dxm, dxu, s);
      }
      s.wait();
    }
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

}  // namespace perceptra
