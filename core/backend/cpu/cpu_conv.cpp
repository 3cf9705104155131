// Convolution: oneDNN primitives (cpu_conv_dnnl.cpp) or im2col + sgemm,
// chosen per shape (cpu_conv_choice.cpp). im2col runs one sample per OpenMP
// thread (each thread's sgemm then runs single-threaded, so the two threads
// never fight). The im2col path is the
// reference the oneDNN path is tested against. Twin: cuda/cuda_conv.cu.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_kernel.h"

namespace perceptra {

namespace {

// Output columns q whose input column q*stride + off lies in [0, W): [q0, q1).
inline void valid_columns(int off, int stride, int W, int Q, int& q0, int& q1) {
  q0 = off >= 0 ? 0 : (-off + stride - 1) / stride;
  q1 = W - off <= 0 ? 0 : std::min(Q, (W - off + stride - 1) / stride);
  if (q1 < q0) q1 = q0;
}

// col[(c*R + r)*S + s][p*Q + q] = x[c][p*sh - ph + r*dh][q*sw - pw + s*dw] (0 outside).
// The valid span of each row is computed once, so the inner loop is a plain
// (vectorised) copy for stride 1.
void im2col(const ConvGeometry& g, const float* x, float* col) {
  const int PQ = g.P * g.Q;
  for (int c = 0; c < g.C; ++c)
    for (int r = 0; r < g.R; ++r)
      for (int s = 0; s < g.S; ++s) {
        float* row = col + ((size_t)(c * g.R + r) * g.S + s) * PQ;
        const float* xc = x + (size_t)c * g.H * g.W;
        const int off = s * g.dil_w - g.pad_w;
        int q0, q1;
        valid_columns(off, g.stride_w, g.W, g.Q, q0, q1);
        for (int p = 0; p < g.P; ++p) {
          const int h = p * g.stride_h - g.pad_h + r * g.dil_h;
          float* out = row + p * g.Q;
          if (h < 0 || h >= g.H) {
            std::memset(out, 0, sizeof(float) * g.Q);
            continue;
          }
          const float* xr = xc + (size_t)h * g.W;
          for (int q = 0; q < q0; ++q) out[q] = 0.f;
          if (g.stride_w == 1) {
            if (q1 > q0) std::memcpy(out + q0, xr + q0 + off, sizeof(float) * (q1 - q0));
          } else {
            for (int q = q0; q < q1; ++q) out[q] = xr[q * g.stride_w + off];
          }
          for (int q = q1; q < g.Q; ++q) out[q] = 0.f;
        }
      }
}

// Adjoint of im2col: dx += scattered col (dx zeroed by the caller).
void col2im(const ConvGeometry& g, const float* col, float* dx) {
  const int PQ = g.P * g.Q;
  for (int c = 0; c < g.C; ++c)
    for (int r = 0; r < g.R; ++r)
      for (int s = 0; s < g.S; ++s) {
        const float* row = col + ((size_t)(c * g.R + r) * g.S + s) * PQ;
        float* dc = dx + (size_t)c * g.H * g.W;
        const int off = s * g.dil_w - g.pad_w;
        int q0, q1;
        valid_columns(off, g.stride_w, g.W, g.Q, q0, q1);
        for (int p = 0; p < g.P; ++p) {
          const int h = p * g.stride_h - g.pad_h + r * g.dil_h;
          if (h < 0 || h >= g.H) continue;
          float* dr = dc + (size_t)h * g.W;
          const float* in = row + p * g.Q;
          if (g.stride_w == 1) {
#pragma omp simd
            for (int q = q0; q < q1; ++q) dr[q + off] += in[q];
          } else {
            for (int q = q0; q < q1; ++q) dr[q * g.stride_w + off] += in[q];
          }
        }
      }
}

bool is_pointwise(const ConvGeometry& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// One column buffer per thread, taken before the parallel region (an
// allocation failure then throws where it can be caught) from the block
// cache (no page faults per batch).
size_t col_floats(const ConvGeometry& g) { return size_t(g.C) * g.R * g.S * g.P * g.Q; }

}  // namespace

void im2col_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const int Cg = g.C / g.groups, Kg = g.K / g.groups;
  const int CRSg = Cg * g.R * g.S, PQ = g.P * g.Q;
  const bool direct = is_pointwise(g);
  const size_t cf = direct ? 0 : col_floats(g);
  CpuScratch cols(cf * size_t(omp_get_max_threads()));
#pragma omp parallel for schedule(static)
  for (int n = 0; n < g.N; ++n) {
    const float* xn = x + (size_t)n * g.C * g.H * g.W;
    float* yn = y + (size_t)n * g.K * PQ;
    const float* col = xn;
    if (!direct) {
      float* buf = cols.data() + cf * size_t(omp_get_thread_num());
      im2col(g, xn, buf);
      col = buf;
    }
    for (int grp = 0; grp < g.groups; ++grp)
      cpu_sgemm(false, false, Kg, PQ, CRSg, 1.f, w + (size_t)grp * Kg * CRSg, CRSg, col + (size_t)grp * CRSg * PQ, PQ,
                0.f, yn + (size_t)grp * Kg * PQ, PQ);
    if (bias)
      for (int k = 0; k < g.K; ++k) {
        float* yk = yn + (size_t)k * PQ;
        const float b = bias[k];
        for (int i = 0; i < PQ; ++i) yk[i] += b;
      }
  }
}

bool one_channel_weight_gradient_on_im2col(const ConvGeometry& g) { return g.C == 1 && g.groups == 1; }

namespace {

// im2col's column buffers for a trial of this shape would exceed the bound:
// oneDNN is kept untimed (conv_choice_measure).
bool im2col_trial_too_big(const ConvGeometry& t) {
  return !is_pointwise(t) && col_floats(t) * sizeof(float) * size_t(omp_get_max_threads()) > kConvTrialColBytes;
}

bool blocked(const ConvGeometry& g) { return g.in_block != 1 || g.out_block != 1; }

// Whether this forward runs on oneDNN: forced, or Auto's measured choice
// (im2col's side of the trial includes the activation pass it needs).
bool forward_on_onednn(CpuBackend& be, const ConvGeometry& g, const float* x, const float* w, const float* bias,
                       ConvPost post, Activation act) {
  // Blocked operands go to oneDNN without a trial: im2col would need them
  // reordered, which is what the blocked layout saves.
  if (blocked(g)) return true;
  if (cpu_conv_impl() != CpuConvImpl::Auto) return cpu_conv_impl() == CpuConvImpl::OneDnn;
  const auto pass = post == ConvPost::None   ? ConvChoiceKey::Forward
                    : post == ConvPost::ReLU ? ConvChoiceKey::ForwardReLU
                                             : ConvChoiceKey::ForwardReLU6;
  const ConvChoiceKey key = conv_choice_key(g, pass, bias != nullptr);
  if (auto cached = conv_choice_cached(key)) return *cached;
  const ConvGeometry& t = key.g;
  if (im2col_trial_too_big(t)) return conv_choice_measure(key, {}, {});
  const size_t ny = size_t(t.N) * t.K * t.P * t.Q;
  CpuScratch y(ny);
  return conv_choice_measure(
      key, [&] { return dnnl_conv_forward(t, x, w, bias, y.data(), post); },
      [&] {
        im2col_conv_forward(t, x, w, bias, y.data());
        if (post != ConvPost::None) be.activation_forward(act, 0.f, y.data(), y.data(), ny);
      });
}

// Whether the weight gradient (want_dx false) or the input gradient (true)
// runs on oneDNN. Under OneDnn one fixed exception (fixed, so every process
// computes the same bits): a one-channel layer's weight gradient, where
// oneDNN's kernel took 8.7 ms against im2col's 2.3 ms (SimpleCNN's first
// layer, N = 128, 2 threads; 15 % of its training step).
bool backward_on_onednn(const ConvGeometry& g, const float* x, const float* w, const float* dy, bool input_grad) {
  if (cpu_conv_impl() == CpuConvImpl::OneDnn || blocked(g))  // blocked: as forward_on_onednn
    return input_grad || !one_channel_weight_gradient_on_im2col(g);
  if (cpu_conv_impl() != CpuConvImpl::Auto) return false;
  const auto pass = input_grad ? ConvChoiceKey::BackwardData : ConvChoiceKey::BackwardWeights;
  const ConvChoiceKey key = conv_choice_key(g, pass, false);
  if (auto cached = conv_choice_cached(key)) return *cached;
  const ConvGeometry& t = key.g;
  if (im2col_trial_too_big(t)) return conv_choice_measure(key, {}, {});
  CpuScratch out(input_grad ? size_t(t.N) * t.C * t.H * t.W : size_t(t.K) * (t.C / t.groups) * t.R * t.S),
      db(key.bias ? t.K : 0);
  float* dx = input_grad ? out.data() : nullptr;
  float* dw = input_grad ? nullptr : out.data();
  float* pdb = key.bias ? db.data() : nullptr;
  return conv_choice_measure(
      key, [&] { return dnnl_conv_backward(t, x, w, dy, dx, dw, pdb); },
      [&] { im2col_conv_backward(t, x, w, dy, dx, dw, pdb); });
}

// Operands of a channel-blocked geometry (training keeps activations
// blocked, Tensor::channel_block) as im2col wants them: NCHW copies.
struct PlainOperands {
  ConvGeometry g;
  CpuScratch x_copy, out_copy;
  PlainOperands(const ConvGeometry& geo) : g(geo) { g.in_block = g.out_block = 1; }
  size_t xs() const { return size_t(g.N) * g.C * g.H * g.W; }
  size_t ys() const { return size_t(g.N) * g.K * g.P * g.Q; }
  const float* in(CpuBackend& be, const float* p, int block, bool is_x, CpuScratch& s) const {
    if (block == 1 || !p) return p;
    s.get(is_x ? xs() : ys());
    be.reorder_channel_block(p, s.data(), g.N, is_x ? g.C : g.K, is_x ? g.H * g.W : g.P * g.Q, block, 1);
    return s.data();
  }
};

// im2col on blocked operands (oneDNN refused the geometry, or a fixed
// exception such as the one-channel weight gradient).
void im2col_forward_any_layout(CpuBackend& be, const ConvGeometry& g, const float* x, const float* w, const float* bias,
                               float* y) {
  if (!blocked(g)) return im2col_conv_forward(g, x, w, bias, y);
  PlainOperands p(g);
  const float* xp = p.in(be, x, g.in_block, true, p.x_copy);
  float* yp = g.out_block == 1 ? y : p.out_copy.get(p.ys());
  im2col_conv_forward(p.g, xp, w, bias, yp);
  if (yp != y) be.reorder_channel_block(yp, y, g.N, g.K, g.P * g.Q, 1, g.out_block);
}

void im2col_backward_any_layout(CpuBackend& be, const ConvGeometry& g, const float* x, const float* w, const float* dy,
                                float* dx, float* dw, float* db) {
  if (!blocked(g)) return im2col_conv_backward(g, x, w, dy, dx, dw, db);
  if (!dx && one_channel_blocked_weight_gradient(g, x, dy, dw, db)) return;
  PlainOperands p(g);
  CpuScratch dy_copy;
  const float* xp = dw ? p.in(be, x, g.in_block, true, p.x_copy) : x;
  const float* dyp = p.in(be, dy, g.out_block, false, dy_copy);
  float* dxp = !dx || g.in_block == 1 ? dx : p.out_copy.get(p.xs());
  im2col_conv_backward(p.g, xp, w, dyp, dxp, dw, db);
  if (dxp != dx) be.reorder_channel_block(dxp, dx, g.N, g.C, g.H * g.W, 1, g.in_block);
}

// A convolution with its activation: oneDNN's post-op, else im2col then a
// separate activation pass.
void conv_forward_post(CpuBackend& be, const ConvGeometry& g, const float* x, const float* w, const float* bias,
                       float* y, ConvPost post, Activation act) {
  {
    PERCEPTRA_CPU_OP(kConvForward);
    if (one_channel_blocked_forward(g, x, w, bias, post, y)) return;
    if (forward_on_onednn(be, g, x, w, bias, post, act) && dnnl_conv_forward(g, x, w, bias, y, post)) return;
    im2col_forward_any_layout(be, g, x, w, bias, y);
  }
  be.activation_forward(act, 0.f, y, y, size_t(g.N) * g.K * g.P * g.Q);
}

}  // namespace

void CpuBackend::conv2d_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  PERCEPTRA_CPU_OP(kConvForward);
  if (one_channel_blocked_forward(g, x, w, bias, ConvPost::None, y)) return;
  if (forward_on_onednn(*this, g, x, w, bias, ConvPost::None, Activation::ReLU) && dnnl_conv_forward(g, x, w, bias, y))
    return;
  im2col_forward_any_layout(*this, g, x, w, bias, y);
}

void CpuBackend::conv2d_forward_relu(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                                     float* y) {
  conv_forward_post(*this, g, x, w, bias, y, ConvPost::ReLU, Activation::ReLU);
}

void CpuBackend::conv2d_forward_relu6(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                                      float* y) {
  conv_forward_post(*this, g, x, w, bias, y, ConvPost::ReLU6, Activation::ReLU6);
}

void CpuBackend::conv2d_chain_forward(int n, const ConvLink* links, const float* x, float* y) {
  {
    PERCEPTRA_CPU_OP(kConvForward);
    if (dnnl_conv_chain_forward(n, links, x, y)) return;
  }
  conv_chain_link_by_link(*this, n, links, x, y);
}

void CpuBackend::conv2d_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy, float* dx,
                                 float* dw, float* db, const float* dx_add) {
  PERCEPTRA_CPU_OP(kConvBackward);
  if (!dx) dx_add = nullptr;
  const bool w_onednn = dw && backward_on_onednn(g, x, w, dy, false);
  const bool x_onednn = dx && backward_on_onednn(g, x, w, dy, true);
  bool added = false;                        // set by a kernel that added dx_add as it wrote dx
  if (!dx || !dw || w_onednn == x_onednn) {  // one kernel for both: dy is read once
    if (!(w_onednn || x_onednn) || !dnnl_conv_backward(g, x, w, dy, dx, dw, db, dx_add, &added)) {
      added = false;
      im2col_backward_any_layout(*this, g, x, w, dy, dx, dw, db);
    }
  } else {
    if (!w_onednn || !dnnl_conv_backward(g, x, w, dy, nullptr, dw, db))
      im2col_backward_any_layout(*this, g, x, w, dy, nullptr, dw, db);
    if (!x_onednn || !dnnl_conv_backward(g, x, w, dy, dx, nullptr, nullptr, dx_add, &added)) {
      added = false;
      im2col_backward_any_layout(*this, g, x, w, dy, dx, nullptr, nullptr);
    }
  }
  if (dx_add && !added) add(dx, dx_add, dx, size_t(g.N) * g.C * g.H * g.W);
}

void im2col_conv_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy, float* dx, float* dw,
                          float* db) {
  const int Cg = g.C / g.groups, Kg = g.K / g.groups;
  const int CRSg = Cg * g.R * g.S, PQ = g.P * g.Q;
  const size_t wsize = (size_t)g.K * CRSg;
  const bool direct = is_pointwise(g);
  const int threads = omp_get_max_threads();
  // Each thread sums its samples' weight (and bias) gradients privately,
  // while the sample's dy is hot in cache; reduced below.
  std::vector<float> dw_parts(dw ? (size_t)threads * wsize : 0, 0.f);
  const size_t cf = direct ? 0 : col_floats(g);
  CpuScratch cols(dw ? cf * size_t(threads) : 0), dcols(dx ? cf * size_t(threads) : 0);
  std::vector<double> db_parts(dw && db ? (size_t)threads * g.K : 0, 0.0);

#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    float* dw_t = dw ? dw_parts.data() + (size_t)t * wsize : nullptr;
#pragma omp for schedule(static)
    for (int n = 0; n < g.N; ++n) {
      const float* dyn = dy + (size_t)n * g.K * PQ;
      if (dw && db) {
        double* db_t = db_parts.data() + (size_t)t * g.K;
        for (int k = 0; k < g.K; ++k) {
          const float* dyk = dyn + (size_t)k * PQ;
          float s = 0.f;  // one plane in float, planes summed in double
#pragma omp simd reduction(+ : s)
          for (int i = 0; i < PQ; ++i) s += dyk[i];
          db_t[k] += s;
        }
      }
      if (dw) {  // x is only read here: input-gradient-only callers may pass null
        const float* xn = x + (size_t)n * g.C * g.H * g.W;
        const float* col = xn;
        if (!direct) {
          float* buf = cols.data() + cf * size_t(t);
          im2col(g, xn, buf);
          col = buf;
        }
        for (int grp = 0; grp < g.groups; ++grp)  // dW_g += dY_g [Kg,PQ] * col_g^T [PQ,CRSg]
          cpu_sgemm(false, true, Kg, CRSg, PQ, 1.f, dyn + (size_t)grp * Kg * PQ, PQ, col + (size_t)grp * CRSg * PQ, PQ,
                    1.f, dw_t + (size_t)grp * Kg * CRSg, CRSg);
      }
      if (dx) {
        float* dxn = dx + (size_t)n * g.C * g.H * g.W;
        if (direct) {
          for (int grp = 0; grp < g.groups; ++grp)
            cpu_sgemm(true, false, CRSg, PQ, Kg, 1.f, w + (size_t)grp * Kg * CRSg, CRSg, dyn + (size_t)grp * Kg * PQ,
                      PQ, 0.f, dxn + (size_t)grp * CRSg * PQ, PQ);
        } else {
          float* dcol = dcols.data() + cf * size_t(t);
          for (int grp = 0; grp < g.groups; ++grp)  // dcol_g = W_g^T [CRSg,Kg] * dY_g
            cpu_sgemm(true, false, CRSg, PQ, Kg, 1.f, w + (size_t)grp * Kg * CRSg, CRSg, dyn + (size_t)grp * Kg * PQ,
                      PQ, 0.f, dcol + (size_t)grp * CRSg * PQ, PQ);
          std::fill(dxn, dxn + (size_t)g.C * g.H * g.W, 0.f);
          col2im(g, dcol, dxn);
        }
      }
    }
  }
  if (!dw) return;

#pragma omp parallel for simd if (wsize > (size_t(1) << 15))
  for (size_t i = 0; i < wsize; ++i) {
    float s = 0.f;
    for (int t = 0; t < threads; ++t) s += dw_parts[(size_t)t * wsize + i];
    dw[i] = s;
  }
  if (db)
    for (int k = 0; k < g.K; ++k) {
      double sum = 0;
      for (int t = 0; t < threads; ++t) sum += db_parts[(size_t)t * g.K + k];
      db[k] = static_cast<float>(sum);
    }
}

}  // namespace perceptra
