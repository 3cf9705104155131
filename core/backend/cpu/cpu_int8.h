#pragma once
// CPU int8 inference primitives (oneDNN 2.x): convolution and inner product
// on u8 (or s8) activations x s8 weights with s32 accumulation, and the
// requantisation fused into the same primitive (per-output-channel output
// scales, bias, optional ReLU post-op, saturation to u8). Used by
// core/quant's int8 models; there is no CUDA twin (the CUDA path dequantises
// and runs float, see core/quant/quantized_model.h).
//
// Activations are NHWC (channels innermost, the layout oneDNN's VNNI kernels
// read) with one scale per tensor and zero point 0: value = scale * byte.
// What a primitive computes, oneDNN 2.x semantics:
//   dst[n,k,...] = post(scales[k] * (sum_c,r,s src * w + bias[k]))
// where post is max(0, .) with relu, then rounding to nearest (ties to even)
// and saturation for a u8 destination; a float destination keeps the value.
// Weights must stay within [-63, 63] for the s32 sums to be exact on CPUs
// without VNNI (16-bit pair sums; see core/quant/quantize.h).
#include <cstdint>
#include <memory>
#include <vector>

#include "core/backend/backend.h"

namespace perceptra::int8 {

struct ConvInt8Spec {
  ConvGeometry g;           // N is ignored (run() takes the batch size); groups must be 1
  bool src_signed = false;  // s8 source (inputs that can be negative); runs as u8 + 128
  bool relu = false;
  bool dst_u8 = true;           // false: float32 NHWC destination
  std::vector<float> scales;    // one per output channel
  std::vector<int8_t> weights;  // [K, C, R, S] (OIHW), s8
  std::vector<float> bias;      // empty or K values, in the accumulator's units
};

class ConvInt8 {
 public:
  explicit ConvInt8(ConvInt8Spec spec);
  ~ConvInt8();
  ConvInt8(const ConvInt8&) = delete;
  ConvInt8& operator=(const ConvInt8&) = delete;
  // src: N*H*W*C bytes (NHWC); dst: N*P*Q*K bytes (u8) or floats (NHWC).
  void run(int N, const void* src, void* dst);
  const ConvInt8Spec& spec() const { return spec_; }
  // oneDNN's implementation name for batch N (benches and tests print it).
  std::string impl_name(int N);

 private:
  struct Impl;
  ConvInt8Spec spec_;
  std::unique_ptr<Impl> impl_;
};

struct LinearInt8Spec {
  int in = 0, out = 0;
  bool src_signed = false, relu = false, dst_u8 = true;
  std::vector<float> scales;    // one per output feature
  std::vector<int8_t> weights;  // [out, in], s8
  std::vector<float> bias;      // empty or `out` values, in the accumulator's units
};

class LinearInt8 {
 public:
  explicit LinearInt8(LinearInt8Spec spec);
  ~LinearInt8();
  LinearInt8(const LinearInt8&) = delete;
  LinearInt8& operator=(const LinearInt8&) = delete;
  // src: N*in bytes; dst: N*out bytes (u8) or floats.
  void run(int N, const void* src, void* dst);
  const LinearInt8Spec& spec() const { return spec_; }

 private:
  struct Impl;
  LinearInt8Spec spec_;
  std::unique_ptr<Impl> impl_;
};

// Quantises float NCHW [N,C,HW] into NHWC bytes: round(x / scale) saturated
// to u8 [0,255] or s8 [-127,127] (ties to even, as ONNX QuantizeLinear).
void quantize_nchw_to_nhwc(const float* x, int N, int C, int HW, float scale, bool to_signed, void* dst);
// Back to float NCHW: scale * byte.
void dequantize_nhwc_to_nchw(const void* src, bool is_signed, int N, int C, int HW, float scale, float* y);
// Max pooling on u8 NHWC (padding never wins: values are >= 0 and padded
// positions are skipped); same scale in and out.
void maxpool_u8_nhwc(const uint8_t* x, const PoolGeometry& g, uint8_t* y);
// Global average over H*W of u8 NHWC into float [N, C]: scale * mean.
void global_avgpool_u8_nhwc(const uint8_t* x, int N, int C, int HW, float scale, float* y);
// Residual join: y = u8(relu(main + short_scale * short) / out_scale) (relu
// optional), main float NHWC; short is u8/s8 NHWC bytes or float NHWC (null
// bytes then). dst u8 when out_scale > 0, else float (y_f).
void residual_join_nhwc(const float* main, const void* short_q, bool short_signed, float short_scale,
                        const float* short_f, size_t n, bool relu, float out_scale, uint8_t* y_q, float* y_f);

}  // namespace perceptra::int8
