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
// post: an activation applied as a oneDNN post-op while the output is still
// in registers (y = relu(conv + bias), or min(max(conv + bias, 0), 6)).
bool dnnl_conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                       ConvPost post = ConvPost::None);
// The backend's conv2d_chain_forward with the links' outputs kept in the
// blocked layout oneDNN chose; false when a link has no oneDNN equivalent.
bool dnnl_conv_chain_forward(int n, const ConvLink* links, const float* x, float* y);
bool dnnl_conv_backward(const ConvGeometry& g, const float* x, const float* w, const float* dy, float* dx, float* dw,
                        float* db);

}  // namespace perceptra
