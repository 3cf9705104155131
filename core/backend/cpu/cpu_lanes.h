#pragma once
// B floats as one vector, for kernels over channel-blocked tensors (B = 16 on
// AVX-512, 8 on AVX2; Tensor::channel_block). GCC vector extensions: loops
// over a runtime lane count did not vectorise, these are one register each.
// Unaligned and may alias the float buffers they are loaded from.

namespace perceptra {

template <int B>
struct Lanes {
  typedef float F __attribute__((vector_size(B * sizeof(float)), aligned(alignof(float)), may_alias));
};
template <int B>
using LaneF = typename Lanes<B>::F;

template <int B>
inline LaneF<B> load(const float* p) {
  return *reinterpret_cast<const LaneF<B>*>(p);
}
template <int B>
inline void store(float* p, LaneF<B> v) {
  *reinterpret_cast<LaneF<B>*>(p) = v;
}

// Max pooling's rule, lane by lane: v replaces the best so far when greater,
// or NaN over a number (NaN propagates; the first maximum in window order
// wins ties), and arg then takes v's window offset.
template <int B>
inline void take_if_greater(LaneF<B> v, float off, LaneF<B>& best, LaneF<B>& arg) {
  const auto t = (v > best) | ((v != v) & (best == best));
  best = t ? v : best;
  arg = t ? LaneF<B>{} + off : arg;
}

}  // namespace perceptra
