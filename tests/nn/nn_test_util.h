#pragma once
// Helpers for the nn tests: random tensors, a central-difference gradient
// check, fixture loading and tolerance comparisons.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/layer.h"
#include "core/tensor/random.h"
#include "core/tensor/tensor.h"

namespace perceptra::testing {

inline Tensor random_tensor(const Shape& s, Rng& rng, float scale = 1.f, float min_abs = 0.f) {
  std::vector<float> v(static_cast<size_t>(s.numel()));
  for (auto& x : v) {
    do {
      x = rng.normal(0.f, scale);
    } while (std::abs(x) < min_abs);  // keep away from kinks (relu at 0)
  }
  return Tensor::from_vector(s, v);
}

// Distinct values spaced by `gap` (a shuffled ramp): max pooling has one
// clear maximum per window, so finite differences don't cross a tie.
inline Tensor distinct_tensor(const Shape& s, Rng& rng, float gap = 0.05f) {
  size_t n = static_cast<size_t>(s.numel());
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (static_cast<float>(i) - n / 2.f) * gap;
  for (size_t i = n; i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
  return Tensor::from_vector(s, v);
}

inline double weighted_sum(const Tensor& y, const std::vector<float>& r) {
  std::vector<float> v = y.to_vector();
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += static_cast<double>(v[i]) * r[i];
  return s;
}

struct GradCheckOptions {
  float h = 1e-2f;     // finite-difference step
  double atol = 2e-3;  // |analytic - numeric| <= atol + rtol * max(|a|, |n|)
  double rtol = 1e-2;
  bool training = true;
};

// Checks dL/dx and dL/dparam of L = sum(y * r) (r random) against central
// differences accumulated in double. Returns the number of mismatches (each
// one also reported with its place).
inline int check_gradients(Layer& layer, const Tensor& x, const GradCheckOptions& o, uint64_t seed = 7) {
  Rng rng(seed);
  Tensor y = layer.forward(x, o.training);
  std::vector<float> r(static_cast<size_t>(y.numel()));
  for (auto& v : r) v = rng.normal();
  Tensor dx = layer.backward(Tensor::from_vector(y.shape(), r));
  std::vector<float> dxv = dx.to_vector();
  EXPECT_EQ(dx.shape(), x.shape());

  auto loss = [&](const Tensor& in) { return weighted_sum(layer.forward(in, o.training), r); };
  int bad = 0;
  auto compare = [&](double analytic, double numeric, const std::string& where) {
    double tol = o.atol + o.rtol * std::max(std::abs(analytic), std::abs(numeric));
    if (std::abs(analytic - numeric) > tol) {
      if (bad < 10)
        ADD_FAILURE() << layer.type() << " " << where << ": analytic " << analytic << " numeric " << numeric;
      ++bad;
    }
  };

  std::vector<float> xv = x.to_vector();
  for (size_t i = 0; i < xv.size(); ++i) {
    std::vector<float> p = xv, m = xv;
    p[i] += o.h;
    m[i] -= o.h;
    double num = (loss(Tensor::from_vector(x.shape(), p)) - loss(Tensor::from_vector(x.shape(), m))) / (2.0 * o.h);
    compare(dxv[i], num, "dx[" + std::to_string(i) + "]");
  }

  // Analytic parameter gradients as computed by the first backward.
  std::vector<Parameter*> params = layer.parameters();
  std::vector<std::vector<float>> grads;
  for (Parameter* p : params) grads.push_back(p->grad.defined() ? p->grad.to_vector() : std::vector<float>());
  for (size_t k = 0; k < params.size(); ++k) {
    Parameter* p = params[k];
    if (!p->grad.defined()) continue;  // buffers
    std::vector<float> w = p->value.to_vector();
    for (size_t i = 0; i < w.size(); ++i) {
      std::vector<float> wp = w;
      wp[i] = w[i] + o.h;
      p->value.copy_from(Tensor::from_vector(p->value.shape(), wp));
      double lp = loss(x);
      wp[i] = w[i] - o.h;
      p->value.copy_from(Tensor::from_vector(p->value.shape(), wp));
      double lm = loss(x);
      p->value.copy_from(Tensor::from_vector(p->value.shape(), w));
      compare(grads[k][i], (lp - lm) / (2.0 * o.h), p->name + "[" + std::to_string(i) + "]");
    }
  }
  return bad;
}

inline nlohmann::json load_fixture(const std::string& name) {
  std::string path = std::string(PERCEPTRA_FIXTURES_DIR) + "/nn/" + name;
  std::ifstream f(path);
  if (!f) {
    ADD_FAILURE() << "missing fixture " << path << " (run /usr/bin/python3 tests/fixtures/make_nn_fixtures.py)";
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(f);
}

inline std::vector<float> floats(const nlohmann::json& j) {
  std::vector<float> v;
  for (const auto& x : j) v.push_back(x.get<float>());
  return v;
}

// Element-wise |got - want| <= atol + rtol * |want|; reports the worst element.
inline void expect_close(const std::vector<float>& got, const std::vector<float>& want, double rtol, double atol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double worst = 0;
  size_t at = 0;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::abs(static_cast<double>(got[i]) - want[i]);
    double excess = err - (atol + rtol * std::abs(want[i]));
    if (excess > 0) ++bad;
    if (err > worst) {
      worst = err;
      at = i;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " elements out of tolerance; worst at " << at
                    << ": got " << got[at] << " want " << want[at];
}

}  // namespace perceptra::testing
