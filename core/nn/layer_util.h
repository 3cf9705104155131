#pragma once
// Small helpers shared by the layer implementations (not part of the API).
#include <string>

#include "core/backend/backend.h"
#include "core/nn/layer.h"
#include "core/tensor/error.h"

namespace perceptra {

// True while Model::analyze builds layers only to read shapes and counts:
// parameters are then left unfilled, so a huge spec (a linear layer on
// 224x224x3 images) costs no page faults or fill time.
inline bool& analyze_only() {
  static thread_local bool flag = false;
  return flag;
}

// A trainable parameter with a zeroed gradient of the same shape.
inline Parameter make_parameter(const std::string& local_name, const Shape& shape, bool decay) {
  Parameter p;
  p.name = local_name;
  p.value = analyze_only() ? Tensor::empty(shape) : Tensor::zeros(shape);
  p.grad = analyze_only() ? Tensor::empty(shape) : Tensor::zeros(shape);
  p.decay = decay;
  return p;
}

// A buffer (running statistics): no gradient, never trained or decayed.
inline Parameter make_buffer(const std::string& local_name, const Shape& shape, float value) {
  Parameter p;
  p.name = local_name;
  p.value = Tensor::full(shape, value);
  p.trainable = false;
  p.decay = false;
  return p;
}

// "conv3 (conv2d)" for runtime shape errors.
inline std::string layer_where(const Layer& l) {
  return (l.name().empty() ? std::string("layer") : l.name()) + " (" + l.type() + ")";
}

inline int to_int(int64_t v) { return static_cast<int>(v); }

}  // namespace perceptra
