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

// Most parameter elements the layers being built may still allocate, or < 0
// for no limit. A loader sets it to what the file holds (ParameterBudget), so
// a hostile spec is refused before its weights are allocated.
inline int64_t& parameter_budget() {
  static thread_local int64_t budget = -1;
  return budget;
}

class ParameterBudget {
 public:
  explicit ParameterBudget(int64_t elements) : saved_(parameter_budget()) { parameter_budget() = elements; }
  ~ParameterBudget() { parameter_budget() = saved_; }
  ParameterBudget(const ParameterBudget&) = delete;
  ParameterBudget& operator=(const ParameterBudget&) = delete;

 private:
  int64_t saved_;
};

// Element count of a parameter shape, refused (InputError) when it
// overflows or exceeds the budget; spends it from the budget.
inline void charge_parameter(const std::string& local_name, const Shape& shape) {
  constexpr int64_t kMax = int64_t(1) << 40;
  int64_t n = 1;
  for (int64_t d : shape.dims()) {
    if (d < 0 || (d > 0 && n > kMax / d))
      throw InputError("model spec", "parameter '" + local_name + "' " + shape.str() + " is too large");
    n *= d;
  }
  int64_t& budget = parameter_budget();
  if (budget < 0) return;
  if (n > budget)
    throw InputError("model spec",
                     "declares more parameters than the file holds in its weight "
                     "tensors (parameter '" +
                         local_name + "' " + shape.str() + ")");
  budget -= n;
}

// Most values one sample may have at any layer boundary (512 MB of floats):
// far above real models, low enough that a hostile spec is refused before
// its activations are allocated and that every size fits an int.
inline constexpr int64_t kMaxSampleValues = int64_t(1) << 27;

// Refuses a batched shape whose per-sample element count is negative,
// overflows or exceeds kMaxSampleValues.
inline void check_sample_size(const Shape& batched, const std::string& where) {
  int64_t n = 1;
  const auto& d = batched.dims();
  for (size_t i = 1; i < d.size(); ++i) {
    if (d[i] < 0 || (d[i] > 0 && n > kMaxSampleValues / d[i]))
      throw InputError(where, "activations " + batched.sample().str() + " have more than " +
                                  std::to_string(kMaxSampleValues) + " values per sample");
    n *= d[i];
  }
}

// A trainable parameter with a zeroed gradient of the same shape.
inline Parameter make_parameter(const std::string& local_name, const Shape& shape, bool decay) {
  charge_parameter(local_name, shape);
  Parameter p;
  p.name = local_name;
  p.value = analyze_only() ? Tensor::empty(shape) : Tensor::zeros(shape);
  p.grad = analyze_only() ? Tensor::empty(shape) : Tensor::zeros(shape);
  p.decay = decay;
  return p;
}

// A buffer (running statistics): no gradient, never trained or decayed.
inline Parameter make_buffer(const std::string& local_name, const Shape& shape, float value) {
  charge_parameter(local_name, shape);
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
