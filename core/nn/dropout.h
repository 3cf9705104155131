#pragma once
#include <cstdint>

#include "core/nn/layer.h"

namespace perceptra {

// Inverted dropout: in training each element is kept with probability 1-p and
// scaled by 1/(1-p); eval is the identity. The mask of call k comes from
// hash_u32(seed, k) (a per-call counter), so a run is reproducible from the
// model seed and identical on every device.
class Dropout : public Layer {
 public:
  explicit Dropout(float p) : p_(p) {}
  std::string type() const override { return "dropout"; }
  nlohmann::json args() const override { return {{"p", p_}}; }
  Shape output_shape(const Shape& input) const override { return input; }
  Tensor forward(const Tensor& x, bool training) override;
  Tensor backward(const Tensor& grad_out) override;
  // Draws the base seed (so the model seed decides every mask) and restarts the counter.
  void reset_parameters(Rng& rng) override;

  float p() const { return p_; }
  uint64_t seed() const { return seed_; }
  uint64_t calls() const { return calls_; }
  // For checkpoints: resume the same mask sequence.
  void set_state(uint64_t seed, uint64_t calls) {
    seed_ = seed;
    calls_ = calls;
  }

 private:
  float p_;
  uint64_t seed_ = 0, calls_ = 0;
  Tensor mask_;
  bool identity_ = true;  // last forward was eval (or p == 0)
};

}  // namespace perceptra
