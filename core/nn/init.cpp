#include "core/nn/init.h"

#include <cmath>
#include <vector>

#include "core/backend/backend.h"
#include "core/tensor/error.h"

namespace perceptra {

float calculate_gain(Nonlinearity nl, float slope) {
  switch (nl) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid:
      return 1.f;
    case Nonlinearity::ReLU:
      return std::sqrt(2.f);
    case Nonlinearity::Tanh:
      return 5.f / 3.f;
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.f / (1.f + slope * slope));
  }
  return 1.f;
}

Fans compute_fans(const Shape& s) {
  PCHECK(s.rank() >= 2, "fan in/out needs a weight of rank >= 2, got " + s.str());
  int64_t receptive = 1;
  for (int i = 2; i < s.rank(); ++i) receptive *= s[i];
  return {s[1] * receptive, s[0] * receptive};
}

namespace {

template <typename Draw>
void fill_host(Tensor& w, Draw draw) {
  std::vector<float> v(static_cast<size_t>(w.numel()));
  for (auto& x : v) x = draw();
  if (!v.empty()) w.backend().copy_from_host(w.data(), v.data(), v.size());
}

float kaiming_std(const Tensor& w, float a, FanMode mode, Nonlinearity nl) {
  Fans f = compute_fans(w.shape());
  int64_t fan = mode == FanMode::FanIn ? f.fan_in : f.fan_out;
  PCHECK(fan > 0, "kaiming init of an empty weight " + w.shape().str());
  return calculate_gain(nl, a) / std::sqrt(static_cast<float>(fan));
}

float xavier_std(const Tensor& w, float gain) {
  Fans f = compute_fans(w.shape());
  return gain * std::sqrt(2.f / static_cast<float>(f.fan_in + f.fan_out));
}

}  // namespace

void uniform_(Tensor& w, Rng& rng, float lo, float hi) {
  fill_host(w, [&] { return rng.uniform(lo, hi); });
}

void normal_(Tensor& w, Rng& rng, float mean, float stddev) {
  fill_host(w, [&] { return rng.normal(mean, stddev); });
}

void zeros_(Tensor& w) { w.fill(0.f); }
void ones_(Tensor& w) { w.fill(1.f); }

void kaiming_uniform(Tensor& w, Rng& rng, float a, FanMode mode, Nonlinearity nl) {
  float bound = std::sqrt(3.f) * kaiming_std(w, a, mode, nl);
  uniform_(w, rng, -bound, bound);
}

void kaiming_normal(Tensor& w, Rng& rng, float a, FanMode mode, Nonlinearity nl) {
  normal_(w, rng, 0.f, kaiming_std(w, a, mode, nl));
}

void xavier_uniform(Tensor& w, Rng& rng, float gain) {
  float bound = std::sqrt(3.f) * xavier_std(w, gain);
  uniform_(w, rng, -bound, bound);
}

void xavier_normal(Tensor& w, Rng& rng, float gain) { normal_(w, rng, 0.f, xavier_std(w, gain)); }

const char* init_scheme_name(InitScheme s) {
  switch (s) {
    case InitScheme::Default:
      return "default";
    case InitScheme::KaimingNormal:
      return "kaiming_normal";
    case InitScheme::KaimingUniform:
      return "kaiming_uniform";
    case InitScheme::XavierUniform:
      return "xavier_uniform";
    case InitScheme::XavierNormal:
      return "xavier_normal";
  }
  return "default";
}

InitScheme init_scheme_from_name(const std::string& n) {
  if (n == "kaiming_normal") return InitScheme::KaimingNormal;
  if (n == "kaiming_uniform") return InitScheme::KaimingUniform;
  if (n == "xavier_uniform") return InitScheme::XavierUniform;
  if (n == "xavier_normal") return InitScheme::XavierNormal;
  return InitScheme::Default;
}

void init_weight_and_bias(InitScheme s, Tensor& weight, Tensor* bias, Rng& rng) {
  switch (s) {
    case InitScheme::Default: {
      // nn.Linear / nn.Conv2d reset_parameters(): kaiming_uniform(a=sqrt(5))
      // gives bound sqrt(6 / ((1 + 5) fan_in)) = 1/sqrt(fan_in); same for bias.
      kaiming_uniform(weight, rng, std::sqrt(5.f), FanMode::FanIn, Nonlinearity::LeakyReLU);
      if (bias && bias->defined()) {
        float bound = 1.f / std::sqrt(static_cast<float>(compute_fans(weight.shape()).fan_in));
        uniform_(*bias, rng, -bound, bound);
      }
      return;
    }
    case InitScheme::KaimingNormal:
      kaiming_normal(weight, rng, 0.f, FanMode::FanOut, Nonlinearity::ReLU);
      break;
    case InitScheme::KaimingUniform:
      kaiming_uniform(weight, rng, 0.f, FanMode::FanIn, Nonlinearity::ReLU);
      break;
    case InitScheme::XavierUniform:
      xavier_uniform(weight, rng);
      break;
    case InitScheme::XavierNormal:
      xavier_normal(weight, rng);
      break;
  }
  if (bias && bias->defined()) zeros_(*bias);
}

}  // namespace perceptra
