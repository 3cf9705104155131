#pragma once
// The Backend interface: every numerical operation the layers and optimizers
// need. Layers never call BLAS or CUDA directly; they ask the backend of their
// tensors' device. The CPU backend is the reference; the CUDA backend must
// agree with it to the tolerances stated in tests/gpu.
//
// All pointers are device pointers of this backend. Shapes are passed as
// plain ints (llm.c style) so the CUDA twin of every op is a direct kernel.
// Class labels travel as float tensors holding integral values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/tensor/device.h"
#include "core/tensor/error.h"

namespace perceptra {

enum class Activation { ReLU, LeakyReLU, GELU, Sigmoid, Tanh };

// Convolution geometry, NCHW input [N,C,H,W], weights [K, C/groups, R, S],
// output [N,K,P,Q]. Fill with make_conv_geometry() to get P and Q.
struct ConvGeometry {
  int N = 0, C = 0, H = 0, W = 0;
  int K = 0, R = 0, S = 0;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int groups = 1;
  int P = 0, Q = 0;
};
// Computes P, Q; throws Error when the output would be empty.
ConvGeometry make_conv_geometry(int N, int C, int H, int W, int K, int R, int S, int stride_h,
                                int stride_w, int pad_h, int pad_w, int dil_h = 1, int dil_w = 1,
                                int groups = 1);

// Pooling geometry, [N,C,H,W] -> [N,C,P,Q] (floor mode, as PyTorch's default).
struct PoolGeometry {
  int N = 0, C = 0, H = 0, W = 0;
  int kh = 2, kw = 2, sh = 2, sw = 2, ph = 0, pw = 0;
  int P = 0, Q = 0;
};
PoolGeometry make_pool_geometry(int N, int C, int H, int W, int kh, int kw, int sh, int sw,
                                int ph, int pw);
// Size of the max pooling argmax workspace: one float per output.
inline size_t maxpool_argmax_floats(const PoolGeometry& g) {
  return size_t(g.N) * g.C * g.P * g.Q;
}

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // Human-readable, names the kernels in use, e.g. "cpu (oneDNN sgemm, 2 threads)".
  virtual std::string describe() const = 0;

  // ---- memory -------------------------------------------------------------
  virtual float* allocate(size_t n) = 0;
  virtual void deallocate(float* p, size_t n) = 0;
  virtual void copy_from_host(float* dst, const float* src, size_t n) = 0;
  virtual void copy_to_host(float* dst, const float* src, size_t n) = 0;
  virtual void copy(float* dst, const float* src, size_t n) = 0;
  virtual void fill(float* x, size_t n, float value) = 0;
  virtual void synchronize() {}

  // ---- dense algebra --------------------------------------------------------
  // Row-major C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
  virtual void gemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                    int lda, const float* B, int ldb, float beta, float* C, int ldc) = 0;
  // y[r, c] += bias[c]
  virtual void add_bias_rows(float* y, const float* bias, int rows, int cols) = 0;
  // out[c] = sum_r x[r, c] + beta * out[c]
  virtual void sum_rows(const float* x, float* out, int rows, int cols, float beta) = 0;

  // ---- convolution ----------------------------------------------------------
  // bias may be null. Backward: dx and db may be null (not needed); dw is
  // overwritten (not accumulated).
  virtual void conv2d_forward(const ConvGeometry& g, const float* x, const float* w,
                              const float* bias, float* y) = 0;
  virtual void conv2d_backward(const ConvGeometry& g, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db) = 0;
  // Inference: y = relu(conv(x, w) + bias) in one pass where the backend can
  // fuse it (CPU: oneDNN post-op); by default the two ops one after the other.
  virtual void conv2d_forward_relu(const ConvGeometry& g, const float* x, const float* w,
                                   const float* bias, float* y) {
    conv2d_forward(g, x, w, bias, y);
    activation_forward(Activation::ReLU, 0.f, y, y, size_t(g.N) * g.K * g.P * g.Q);
  }

  // ---- pooling ---------------------------------------------------------------
  // Max pooling backward routes each gradient to the first maximum of its
  // window (recomputed from x and y, so no index buffer is kept).
  virtual void maxpool2d_forward(const PoolGeometry& g, const float* x, float* y) = 0;
  virtual void maxpool2d_backward(const PoolGeometry& g, const float* x, const float* y,
                                  const float* dy, float* dx) = 0;
  // Optional training path, where maxpool_has_argmax(g): forward also
  // records each output's window offset of its first maximum in `argmax` (a
  // workspace of maxpool_argmax_floats(g) floats), so backward reads neither
  // x nor y. Elsewhere the layer keeps x and y for maxpool2d_backward.
  virtual bool maxpool_has_argmax(const PoolGeometry& g) const {
    (void)g;
    return false;
  }
  virtual void maxpool2d_forward_argmax(const PoolGeometry& g, const float* x, float* y,
                                        float* argmax) {
    (void)x, (void)y, (void)argmax;
    PCHECK(maxpool_has_argmax(g), "maxpool2d_forward_argmax: not provided by " + describe());
  }
  virtual void maxpool2d_backward_argmax(const PoolGeometry& g, const float* argmax,
                                         const float* dy, float* dx) {
    (void)argmax, (void)dy, (void)dx;
    PCHECK(maxpool_has_argmax(g), "maxpool2d_backward_argmax: not provided by " + describe());
  }
  // Average pooling counts padded cells (PyTorch's count_include_pad=True).
  virtual void avgpool2d_forward(const PoolGeometry& g, const float* x, float* y) = 0;
  virtual void avgpool2d_backward(const PoolGeometry& g, const float* dy, float* dx) = 0;
  // x [planes, hw] -> y [planes]
  virtual void global_avgpool_forward(const float* x, float* y, int planes, int hw) = 0;
  virtual void global_avgpool_backward(const float* dy, float* dx, int planes, int hw) = 0;

  // ---- activations (alpha is LeakyReLU's slope) -----------------------------
  virtual void activation_forward(Activation a, float alpha, const float* x, float* y,
                                  size_t n) = 0;
  // dx = dy * f'(x); y = f(x) is given so sigmoid/tanh need not recompute.
  virtual void activation_backward(Activation a, float alpha, const float* x, const float* y,
                                   const float* dy, float* dx, size_t n) = 0;

  // ---- losses -----------------------------------------------------------------
  // Softmax cross-entropy with label smoothing eps (PyTorch semantics: target
  // = (1-eps) one-hot + eps/C). Writes probs [N,C] and loss per sample [N].
  virtual void softmax_xent_forward(const float* logits, const float* labels, float* probs,
                                    float* loss, int N, int C, float smoothing) = 0;
  // dlogits = scale * (probs - target)
  virtual void softmax_xent_backward(const float* probs, const float* labels, float* dlogits,
                                     int N, int C, float smoothing, float scale) = 0;
  // Row-wise softmax (inference).
  virtual void softmax(const float* x, float* y, int N, int C) = 0;
  // Returns mean((p - t)^2); writes dp = 2 (p - t) / n when dp is not null.
  virtual double mse(const float* p, const float* t, float* dp, size_t n) = 0;

  // ---- batch normalisation (x viewed as [N, C, HW]; HW = 1 for 1d) ---------
  // Training: normalises with batch statistics, saves mean and 1/sqrt(var+eps),
  // updates running stats with the unbiased variance (PyTorch semantics).
  virtual void batchnorm_forward_train(const float* x, float* y, const float* gamma,
                                       const float* beta, float* save_mean, float* save_invstd,
                                       float* running_mean, float* running_var, int N, int C,
                                       int HW, float momentum, float eps) = 0;
  virtual void batchnorm_forward_eval(const float* x, float* y, const float* gamma,
                                      const float* beta, const float* running_mean,
                                      const float* running_var, int N, int C, int HW,
                                      float eps) = 0;
  // dgamma, dbeta overwritten.
  virtual void batchnorm_backward(const float* x, const float* dy, const float* gamma,
                                  const float* save_mean, const float* save_invstd, float* dx,
                                  float* dgamma, float* dbeta, int N, int C, int HW) = 0;

  // ---- dropout: mask[i] = keep ? 1/(1-p) : 0 with keep decided by
  // hash_u32(seed, i) (core/tensor/random.h), identical on every device.
  virtual void dropout_forward(const float* x, float* y, float* mask, size_t n, float p,
                               uint64_t seed) = 0;

  // ---- elementwise and reductions ----------------------------------------
  virtual void add(const float* a, const float* b, float* out, size_t n) = 0;  // out = a + b
  virtual void mul(const float* a, const float* b, float* out, size_t n) = 0;  // out = a * b
  virtual void axpby(float alpha, const float* x, float beta, float* y, size_t n) = 0;  // y = ax + by
  virtual void scale(float* x, float s, size_t n) = 0;
  // out = (x - mean[c]) * inv_std[c] over [N, C, HW] (input normalisation).
  virtual void normalize_channels(const float* x, float* out, const float* mean,
                                  const float* inv_std, int N, int C, int HW) = 0;
  virtual double sum(const float* x, size_t n) = 0;
  virtual double sum_squares(const float* x, size_t n) = 0;
  // True when any element is NaN or infinite.
  virtual bool has_non_finite(const float* x, size_t n) = 0;

  // ---- optimizer updates (fused, in place) ----------------------------------
  // PyTorch SGD: g' = g + wd*w; v = momentum*v + (1-dampening)*g' (v = g' on
  // the first step, signalled by first_step); step = nesterov ? g' + momentum*v : v;
  // w -= lr * step.
  virtual void sgd_update(float* w, const float* g, float* v, size_t n, float lr, float momentum,
                          float dampening, float weight_decay, bool nesterov, bool first_step) = 0;
  // PyTorch Adam (decoupled=false: L2 added to g) / AdamW (decoupled=true:
  // w *= 1 - lr*wd). step counts from 1 for bias correction.
  virtual void adam_update(float* w, const float* g, float* m, float* v, size_t n, float lr,
                           float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                           int64_t step) = 0;
};

// The backend for a device. CPU always exists; CUDA throws Error when the
// build has no CUDA support or the device is unusable.
Backend& backend_for(Device device);

// What the CUDA runtime says about this machine.
struct CudaProbe {
  bool compiled = false;   // built with the CUDA backend
  int device_count = 0;    // usable devices
  std::string reason;      // why none is usable, when device_count == 0
};
CudaProbe probe_cuda();

}  // namespace perceptra
