// Auto's per-shape choice between oneDNN and im2col + sgemm, by measurement
// on the caller's own data (the first samples of the batch), outputs to
// scratch. Made once per shape and pass for the life of the process, so a run
// pays for it on its first batch only (tens of milliseconds for Fashion-MNIST
// shapes) and every later call is a map lookup.
#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <mutex>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_conv_impl.h"

namespace perceptra {

namespace {

using Code = std::array<int, 18>;
Code code_of(const ConvChoiceKey& k) {
  const ConvGeometry& g = k.g;
  return {g.N,     g.C,     g.H,     g.W,     g.K,      g.R, g.S, g.stride_h,  g.stride_w,
          g.pad_h, g.pad_w, g.dil_h, g.dil_w, g.groups, g.P, g.Q, int(k.pass), int(k.bias)};
}

std::mutex g_mu;
std::map<Code, ConvChoice> g_choices;

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

ConvChoiceKey conv_choice_key(const ConvGeometry& g, ConvChoiceKey::Pass pass, bool bias) {
  ConvChoiceKey k;
  k.g = g;
  const size_t per_image = sizeof(float) * std::max(size_t(g.C) * g.H * g.W, size_t(g.K) * g.P * g.Q);
  const size_t by_bytes = std::max<size_t>(1, kConvTrialBytes / std::max<size_t>(per_image, 1));
  k.g.N = int(std::min<size_t>({size_t(g.N), size_t(kConvTrialBatch), by_bytes}));
  k.pass = pass;
  // Gradients: one choice per shape whether or not db (or dx) is wanted, so
  // the weight gradient's bits never depend on what else was asked for.
  k.bias = bias && pass != ConvChoiceKey::BackwardData && pass != ConvChoiceKey::BackwardWeights;
  return k;
}

std::optional<bool> conv_choice_cached(const ConvChoiceKey& key) {
  std::lock_guard<std::mutex> lk(g_mu);
  auto it = g_choices.find(code_of(key));
  if (it == g_choices.end()) return std::nullopt;
  return it->second.onednn;
}

bool conv_choice_measure(const ConvChoiceKey& key, const std::function<bool()>& onednn,
                         const std::function<void()>& im2col) {
  ConvChoice c;
  c.key = key;
  if (!im2col) {
    c.onednn = true;
  } else if (!onednn()) {
    c.onednn = false;
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    im2col();
    // Large shapes (224x224 planes) vary less and cost more: one round.
    const int rounds = ms_since(t0) > 100 ? 1 : kConvTrials;
    double best[2] = {1e300, 1e300};
    for (int t = 0; t < rounds; ++t) {
      auto t0 = std::chrono::steady_clock::now();
      onednn();
      best[0] = std::min(best[0], ms_since(t0));
      t0 = std::chrono::steady_clock::now();
      im2col();
      best[1] = std::min(best[1], ms_since(t0));
    }
    c.onednn_ms = best[0];
    c.im2col_ms = best[1];
    c.onednn = !(best[1] < 0.9 * best[0]);
  }
  // The trial's temporaries (both kernels' layouts and scratch) must not stay
  // in the block cache, nor raise the peak that bounds it: measured on
  // ResNet-small at 128x128, batch 32, keeping them cost 540 MB of peak RSS.
  cpu_release_cached_memory();
  std::lock_guard<std::mutex> lk(g_mu);
  // Another thread may have measured the same shape meanwhile: first wins,
  // so every caller sees one answer.
  return g_choices.emplace(code_of(key), c).first->second.onednn;
}

std::vector<ConvChoice> conv_choices() {
  std::lock_guard<std::mutex> lk(g_mu);
  std::vector<ConvChoice> out;
  for (const auto& [code, c] : g_choices) out.push_back(c);
  return out;
}

void conv_choices_clear() {
  std::lock_guard<std::mutex> lk(g_mu);
  g_choices.clear();
}

std::string conv_choice_pass_name(ConvChoiceKey::Pass pass) {
  switch (pass) {
    case ConvChoiceKey::Forward:
      return "forward";
    case ConvChoiceKey::ForwardReLU:
      return "forward+relu";
    case ConvChoiceKey::ForwardReLU6:
      return "forward+relu6";
    case ConvChoiceKey::BackwardWeights:
      return "weight gradient";
    case ConvChoiceKey::BackwardData:
      return "input gradient";
  }
  return "?";
}

bool dnnl_winograd_suits(const ConvGeometry& g, ConvChoiceKey::Pass pass) {
  if (g.R != 3 || g.S != 3 || g.stride_h != 1 || g.stride_w != 1 || g.dil_h != 1 || g.dil_w != 1 || g.groups != 1)
    return false;
  if (g.C < 32 || g.K < 32 || g.N < 8) return false;
  const long tiles = long(g.N) * ((g.P + 3) / 4) * ((g.Q + 3) / 4);
  if (tiles < 128) return false;
  if (pass == ConvChoiceKey::BackwardWeights) return g.C >= 64 && g.K >= 64 && g.P >= 14 && g.Q >= 14;
  return true;
}

}  // namespace perceptra
