#pragma once
// The arithmetic of int8 quantisation, shared by the engine, calibration,
// the file format and the QDQ ONNX export. Symmetric everywhere: zero point
// 0, so 0.0 is exactly representable (padding, ReLU zeros).
//   weights:     s8 in [-63, 63] (7 bits), one scale per output channel =
//                max|w_k| / 63. CPUs without VNNI (AVX2, AVX-512 before
//                Cascade Lake) multiply u8 x s8 with vpmaddubsw, which adds
//                two products in a saturating 16-bit lane: 2 * 255 * 127
//                overflows it, 2 * 255 * 63 does not. ONNX Runtime's
//                reduce_range makes the same trade; 7-bit per-channel weights
//                cost no measurable accuracy here and the s32 accumulation
//                stays exact on every x86 CPU.
//   activations: u8 in [0, 255] (non-negative tensors, after ReLU) or s8 in
//                [-127, 127] (tensors that can be negative), one scale per
//                tensor = threshold / 255 or / 127 (threshold from calibration)
// q = clamp(round_half_even(x / scale)), x' = scale * q: ONNX's
// QuantizeLinear / DequantizeLinear with zero point 0.
#include <cstdint>
#include <vector>

namespace perceptra::quant {

inline constexpr int kWeightLevels = 63;

struct ChannelQuantized {
  std::vector<int8_t> values;  // same layout as the float weights
  std::vector<float> scales;   // one per output channel (the first dimension)
};

// Per-output-channel symmetric quantisation of weights laid out [channels, ...]
// into [-kWeightLevels, kWeightLevels].
// A channel of zeros gets scale 1 (all its values are then 0).
ChannelQuantized quantize_per_channel(const std::vector<float>& w, int channels);
std::vector<float> dequantize_per_channel(const ChannelQuantized& q);

// Activation scale for a calibrated threshold (largest |value| kept).
float activation_scale(float threshold, bool is_signed);
int quantize_value(float x, float scale, bool is_signed);
inline float dequantize_value(int q, float scale) { return scale * float(q); }
// x <- dequantize(quantize(x)) in place (the float simulation of int8).
void fake_quantize(std::vector<float>& x, float scale, bool is_signed);

}  // namespace perceptra::quant
