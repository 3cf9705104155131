#pragma once
// Which convolution kernels the CPU backend uses. Auto: oneDNN convolution
// primitives where they apply (grouped and depthwise too), im2col + sgemm
// otherwise.
// Im2col forces the reference path everywhere (tests compare the two;
// PERCEPTRA_CONV=im2col in the environment selects it at start-up).
#include "core/backend/backend.h"

namespace perceptra {

enum class CpuConvImpl { Auto, Im2col };
void set_cpu_conv_impl(CpuConvImpl impl);
CpuConvImpl cpu_conv_impl();

// oneDNN paths; false when not applicable (the caller then uses im2col).
// relu: inference with a fused ReLU post-op (y = relu(conv + bias)).
bool dnnl_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                       bool relu = false);
bool dnnl_conv_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy, float* dx, float* dw,
                        float* db);

}  // namespace perceptra
