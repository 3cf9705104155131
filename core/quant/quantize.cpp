#include "core/quant/quantize.h"

#include <algorithm>
#include <cmath>

#include "core/tensor/error.h"

namespace perceptra::quant {

ChannelQuantized quantize_per_channel(const std::vector<float>& w, int channels) {
  PCHECK(channels > 0 && w.size() % size_t(channels) == 0, "quantize_per_channel: " + std::to_string(w.size()) +
                                                               " values do not split into " + std::to_string(channels) +
                                                               " channels");
  const size_t per = w.size() / size_t(channels);
  ChannelQuantized q;
  q.values.resize(w.size());
  q.scales.resize(size_t(channels));
  for (size_t k = 0; k < size_t(channels); ++k) {
    float m = 0;
    for (size_t i = 0; i < per; ++i) m = std::max(m, std::fabs(w[k * per + i]));
    const float s = m > 0 && std::isfinite(m) ? m / float(kWeightLevels) : 1.f;
    q.scales[k] = s;
    for (size_t i = 0; i < per; ++i) {
      const float v = std::nearbyint(w[k * per + i] / s);
      q.values[k * per + i] = int8_t(std::min(float(kWeightLevels), std::max(-float(kWeightLevels), v)));
    }
  }
  return q;
}

std::vector<float> dequantize_per_channel(const ChannelQuantized& q) {
  std::vector<float> w(q.values.size());
  const size_t per = q.scales.empty() ? 0 : q.values.size() / q.scales.size();
  for (size_t i = 0; i < w.size(); ++i) w[i] = q.scales[i / per] * float(q.values[i]);
  return w;
}

float activation_scale(float threshold, bool is_signed) {
  if (!(threshold > 0) || !std::isfinite(threshold)) return 1.f;
  return threshold / (is_signed ? 127.f : 255.f);
}

int quantize_value(float x, float scale, bool is_signed) {
  const float lo = is_signed ? -127.f : 0.f, hi = is_signed ? 127.f : 255.f;
  return int(std::min(hi, std::max(lo, std::nearbyint(x / scale))));
}

void fake_quantize(std::vector<float>& x, float scale, bool is_signed) {
  for (float& v : x) v = dequantize_value(quantize_value(v, scale, is_signed), scale);
}

}  // namespace perceptra::quant
