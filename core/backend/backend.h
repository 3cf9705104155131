#pragma once
// The Backend interface: every numerical operation the layers and optimizers
// need. Layers never call BLAS or CUDA directly; they ask the backend of their
// tensors' device. The CPU backend is the reference; the CUDA backend runs the
// same algorithms and must agree with it to the tolerances stated in tests/gpu.
// The op list itself is backend_ops.inc (written once, used by every backend).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor/device.h"
#include "core/tensor/error.h"

namespace perceptra {

// ReLU6 = min(max(x, 0), 6) (MobileNet's clip; gradient 0 at and beyond both bounds, as PyTorch).
enum class Activation { ReLU, LeakyReLU, GELU, Sigmoid, Tanh, ReLU6 };

// An activation applied to a convolution's output as part of it (inference).
enum class ConvPost { None, ReLU, ReLU6 };

// The arithmetic of matrix products (gemm) and convolutions. F32 is the
// default and the reference. BF16 (opt-in, mixed precision as PyTorch's CPU
// autocast): their inputs are rounded to bfloat16 (8 bits of mantissa), the
// products accumulate and land in float32; weights, gradients, optimizer
// state and every other op stay float32. Twice the multiply rate on CPUs
// with AVX-512 BF16.
enum class Precision { F32, BF16 };
const char* precision_name(Precision p);  // "f32" | "bf16"
// "f32" | "bf16"; InputError(where, ...) otherwise.
Precision parse_precision(const std::string& text, const std::string& where);

// Convolution geometry, NCHW input [N,C,H,W], weights [K, C/groups, R, S],
// output [N,K,P,Q]. Fill with make_conv_geometry() to get P and Q.
struct ConvGeometry {
  int N = 0, C = 0, H = 0, W = 0;
  int K = 0, R = 0, S = 0;
  int stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int groups = 1;
  int P = 0, Q = 0;
  // Channel block of x / dx (in) and of y / dy (out): 1 is NCHW, b > 1
  // [N, C/b, H, W, b] (Tensor::channel_block). Only a backend whose
  // activation_channel_block is > 1 gets anything but 1.
  int in_block = 1, out_block = 1;
};
// Computes P, Q; throws Error when the output would be empty.
ConvGeometry make_conv_geometry(int N, int C, int H, int W, int K, int R, int S, int stride_h, int stride_w, int pad_h,
                                int pad_w, int dil_h = 1, int dil_w = 1, int groups = 1);

// Pooling geometry, [N,C,H,W] -> [N,C,P,Q] (floor mode, as PyTorch's default).
struct PoolGeometry {
  int N = 0, C = 0, H = 0, W = 0;
  int kh = 2, kw = 2, sh = 2, sw = 2, ph = 0, pw = 0;
  int P = 0, Q = 0;
  // Channel block of x, y, dx, dy and argmax in the training (argmax) ops:
  // 1 NCHW, b > 1 [N, C/b, H, W, b] as ConvGeometry's.
  int block = 1;
};
PoolGeometry make_pool_geometry(int N, int C, int H, int W, int kh, int kw, int sh, int sw, int ph, int pw);
// Size of the max pooling argmax workspace: one float per output.
inline size_t maxpool_argmax_floats(const PoolGeometry& g) { return size_t(g.N) * g.C * g.P * g.Q; }

// One link of an inference chain (conv2d_chain_forward): a convolution with
// its bias (may be null) and post-op, then optionally a max pooling of its
// output (pool.N == 0: none).
// A residual block's last link adds a shortcut before its post-op:
// post(conv + bias + s), where s is the input of the earlier link
// `residual_from` as it is (proj_w null) or through a projection convolution
// (proj_g, proj_w, proj_bias; no post-op). Such a link has no pooling.
struct ConvLink {
  ConvGeometry g;
  const float* w = nullptr;
  const float* bias = nullptr;
  ConvPost post = ConvPost::None;
  PoolGeometry pool{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  int residual_from = -1;
  ConvGeometry proj_g;
  const float* proj_w = nullptr;
  const float* proj_bias = nullptr;
  bool pooled() const { return pool.N > 0; }
  bool residual() const { return residual_from >= 0; }
  // Floats of the link's output (after the pooling when there is one).
  size_t out_floats() const {
    return pooled() ? size_t(pool.N) * pool.C * pool.P * pool.Q : size_t(g.N) * g.K * g.P * g.Q;
  }
};

// Every op of backend_ops.inc, in list order (named as the methods).
enum class Op {
#define PERCEPTRA_OP(ret, name, args) name,
#include "core/backend/backend_ops.inc"
};
inline constexpr int kOpCount = int(Op::adam_update) + 1;
// The op's method name, e.g. "maxpool2d_forward_argmax".
const char* op_name(Op op);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // Human-readable, names the kernels in use, e.g. "cpu (oneDNN sgemm, 2 threads)".
  virtual std::string describe() const = 0;
  // Waits until every op issued so far has finished (asynchronous backends).
  virtual void synchronize() {}

  // What this backend can run: the one place a caller asks before using an
  // op (in the spirit of ggml's supports_op), so layers never branch on the
  // device. Every backend runs every op of the list, with the same
  // algorithm, except where it answers false here and implements the op as
  // a call to unsupported(Op::name) (CUDA: conv2d_relu_maxpool_*).
  virtual bool supports(Op op) const {
    (void)op;
    return true;
  }
  // Throws Error naming the op and this backend.
  [[noreturn]] void unsupported(Op op) const;

  // Precision: empty when this backend computes at p on this machine, else
  // why not (one line). set_precision throws Error with that reason. It is
  // the backend's (the process's) setting: a run sets it before its first
  // batch.
  virtual std::string precision_unavailable(Precision p) const {
    return p == Precision::F32 ? std::string() : describe() + " computes in f32 only";
  }
  virtual void set_precision(Precision p);
  virtual Precision precision() const { return Precision::F32; }

  // The channel block (Tensor::channel_block) a training convolution with
  // `channels` outputs should write, so the layers after it work without
  // reorders: 1 (NCHW) unless this backend's convolutions run faster on a
  // blocked layout and its batch norm, activations and convolutions take it.
  virtual int activation_channel_block(int channels) const {
    (void)channels;
    return 1;
  }
  // Whether conv2d_relu_maxpool_forward/backward run this training
  // convolution (its out_block as activation_channel_block says) followed
  // by a ReLU and a 2x2/stride-2 max pooling.
  virtual bool fuses_conv_relu_maxpool(const ConvGeometry& g) const {
    (void)g;
    return false;
  }

  // The ops (documented in backend_ops.inc). A backend class declares its
  // overrides the same way:
  //   #define PERCEPTRA_OP(ret, name, args) ret name args override;
  //   #include "core/backend/backend_ops.inc"
#define PERCEPTRA_OP(ret, name, args) virtual ret name args = 0;
#include "core/backend/backend_ops.inc"
};

// The backend for a device. CPU always exists; CUDA throws Error when the
// build has no CUDA support or the device is unusable.
Backend& backend_for(Device device);

// An inference pass's promise, on this thread, that no weights change while
// it lives (evaluation, predictions, benchmarks): a backend may then keep
// prepared copies of weights keyed by their address (the CPU packs each
// Linear layer's weights once into the layout its matmul reads fastest
// instead of reading W^T through strides every batch), dropped when the
// outermost hold on the thread ends. Nothing may write or free held weights
// (optimizer steps, loads, all-reduce) while the hold lives.
class WeightsHeld {
 public:
  WeightsHeld();
  ~WeightsHeld();
  WeightsHeld(const WeightsHeld&) = delete;
  WeightsHeld& operator=(const WeightsHeld&) = delete;
};
// True while a WeightsHeld lives on this thread.
bool weights_held();
// A backend keeping held copies registers how to drop the calling thread's
// (run when the outermost hold on a thread ends, on that thread). `after`
// hooks run once every drop has run (the CPU backend's: give the pass's
// freed blocks back to the system).
void on_weights_released(void (*drop)(), bool after = false);

// conv2d_chain_forward as separate ops, link after link, each link's input
// kept until its last reader (itself or a later shortcut): what a backend
// without a chained path runs (CUDA; the CPU when oneDNN refuses a link).
// Throws Error when a link's shortcut does not fit.
void conv_chain_link_by_link(Backend& be, int n, const ConvLink* links, const float* x, float* y);

// linear_forward as gemm, add_bias_rows and activation_forward one after the
// other (CUDA; the CPU at bf16 precision, whose gemm is the bf16 matmul).
void linear_forward_op_by_op(Backend& be, int N, int in, int out, const float* x, const float* w, const float* bias,
                             ConvPost post, float* y);

// For every backend's chain: whether link i's shortcut (if any) comes from
// an earlier link and maps that link's input onto link i's output; and, per
// link input k (0..n), the last link that reads it.
bool conv_link_shortcut_fits(const ConvLink* links, int i);
std::vector<int> conv_chain_last_use(int n, const ConvLink* links);

// What the CUDA runtime says about this machine.
struct CudaProbe {
  bool compiled = false;  // built with the CUDA backend
  int device_count = 0;   // usable devices
  std::string reason;     // why none is usable, when device_count == 0
};
CudaProbe probe_cuda();

// Resolves a request against what is present. For "auto" without a usable
// GPU it returns the CPU and sets *note to one line saying why, e.g.
// "CUDA: no device (driver version insufficient) — training on CPU".
// An explicit "cuda:N" that cannot be used throws Error with the reason.
Device resolve_device(const DeviceRequest& request, std::string* note);

}  // namespace perceptra
