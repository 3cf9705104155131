#pragma once
// Weight initialisation as torch.nn.init defines it (He et al. 2015 for
// Kaiming, Glorot & Bengio 2010 for Xavier). Values are drawn on the host
// from our portable Rng, so one seed gives bit-identical weights everywhere,
// then copied to the tensor's device.
#include <cstdint>
#include <string>

#include "core/tensor/random.h"
#include "core/tensor/tensor.h"

namespace perceptra {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, ReLU, LeakyReLU, Tanh, Sigmoid };

// torch.nn.init.calculate_gain: linear/sigmoid 1, relu sqrt(2), tanh 5/3,
// leaky_relu sqrt(2 / (1 + slope^2)).
float calculate_gain(Nonlinearity nl, float slope = 0.01f);

struct Fans {
  int64_t fan_in = 0, fan_out = 0;
};
// Weight [out, in, *receptive]: fan_in = in * receptive, fan_out = out * receptive.
Fans compute_fans(const Shape& weight_shape);

// std = gain / sqrt(fan); uniform bound = sqrt(3) * std. PyTorch's defaults:
// a = 0, fan_in, leaky_relu (that is, gain sqrt(2)).
void kaiming_uniform(Tensor& w, Rng& rng, float a = 0.f, FanMode mode = FanMode::FanIn,
                     Nonlinearity nl = Nonlinearity::LeakyReLU);
void kaiming_normal(Tensor& w, Rng& rng, float a = 0.f, FanMode mode = FanMode::FanIn,
                    Nonlinearity nl = Nonlinearity::LeakyReLU);
// std = gain * sqrt(2 / (fan_in + fan_out)); uniform bound = sqrt(3) * std.
void xavier_uniform(Tensor& w, Rng& rng, float gain = 1.f);
void xavier_normal(Tensor& w, Rng& rng, float gain = 1.f);
void uniform_(Tensor& w, Rng& rng, float lo, float hi);
void normal_(Tensor& w, Rng& rng, float mean, float stddev);
void zeros_(Tensor& w);
void ones_(Tensor& w);

// How a Linear/Conv2d layer initialises itself (spec field "init").
//  Default        PyTorch's nn.Linear/nn.Conv2d default: kaiming_uniform(a=sqrt(5)),
//                 i.e. U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(fan_in)).
//  KaimingNormal  kaiming_normal(fan_out, relu), bias 0 (torchvision ResNets).
//  KaimingUniform kaiming_uniform(fan_in, relu), bias 0.
//  XavierUniform / XavierNormal  gain 1, bias 0.
enum class InitScheme { Default, KaimingNormal, KaimingUniform, XavierUniform, XavierNormal };
const char* init_scheme_name(InitScheme s);
InitScheme init_scheme_from_name(const std::string& name);  // assumes a valid name
// Initialises a weight (and bias when defined) per scheme.
void init_weight_and_bias(InitScheme s, Tensor& weight, Tensor* bias, Rng& rng);

}  // namespace perceptra
