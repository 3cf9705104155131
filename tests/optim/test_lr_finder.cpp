// LR finder on synthetic loss curves (losses fed as a known function of the LR).
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "core/optim/lr_finder.h"
#include "core/tensor/error.h"

namespace perceptra {
namespace {

// Falls from 2.3 to 0.3 around lr = 3e-4 (steepest there), explodes past ~0.3.
double synthetic_loss(double lr) {
  double x = std::log10(lr);
  return 2.3 - 2.0 / (1 + std::exp(-2.5 * (x + 3.5))) + std::exp(4 * (x + 0.5));
}

template <class F>
LrFinderResult sweep(LrFinder& f, F loss_of) {
  while (!f.done()) {
    double lr = f.next_lr();
    f.record(loss_of(lr));
  }
  return f.result();
}

TEST(LrFinder, StopsOnDivergenceAndSuggestsTheSteepRegion) {
  for (int iters : {100, 200}) {
    SCOPED_TRACE(iters);
    LrFinderConfig cfg;
    cfg.num_iters = iters;
    LrFinder f(cfg);
    LrFinderResult r = sweep(f, synthetic_loss);
    EXPECT_TRUE(r.diverged);
    EXPECT_NE(r.stop_reason.find("diverged"), std::string::npos) << r.stop_reason;
    EXPECT_LT(static_cast<int>(r.curve.size()), iters);  // stopped before end_lr
    EXPECT_LT(r.curve.back().lr, 10.0);
    const auto& last = r.curve.back();
    double best = last.smoothed;
    for (const auto& p : r.curve) best = std::min(best, p.smoothed);
    EXPECT_GT(last.smoothed, 4 * best);
    // Steepest descent of the smoothed curve: near the true 3e-4, shifted
    // right by the moving average's lag.
    EXPECT_GT(r.steepest_lr, 1e-4);
    EXPECT_LT(r.steepest_lr, 1e-2);
    EXPECT_EQ(r.suggested_lr, r.steepest_lr);
    // The smoothed minimum is on the plateau before the explosion.
    EXPECT_GT(r.min_loss_lr, 1e-2);
    EXPECT_LT(r.min_loss_lr, 1.0);
    EXPECT_DOUBLE_EQ(r.min_div10_lr, r.min_loss_lr / 10);
  }
}

TEST(LrFinder, SweepIsGeometricAndSmoothingBiasCorrected) {
  LrFinderConfig cfg;
  cfg.start_lr = 1e-4;
  cfg.end_lr = 1.0;
  cfg.num_iters = 5;
  LrFinder f(cfg);
  std::vector<double> lrs;
  LrFinderResult r = sweep(f, [&](double lr) {
    lrs.push_back(lr);
    return 1.0;
  });
  ASSERT_EQ(lrs.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(lrs[i], std::pow(10.0, -4 + i), 1e-12 * lrs[i]);
  // A constant loss stays constant after bias correction.
  for (const auto& p : r.curve) EXPECT_NEAR(p.smoothed, 1.0, 1e-12);
  EXPECT_FALSE(r.diverged);
  EXPECT_EQ(r.stop_reason, "completed");
  // Flat curve: no steepest point, the suggestion falls back to min/10.
  EXPECT_EQ(r.steepest_lr, 0.0);
  EXPECT_EQ(r.suggested_lr, r.min_div10_lr);
}

TEST(LrFinder, SmoothedLossIsTheBiasCorrectedAverage) {
  LrFinderConfig cfg;
  cfg.num_iters = 3;
  cfg.beta = 0.5;
  LrFinder f(cfg);
  double losses[] = {4.0, 2.0, 3.0};
  int i = 0;
  LrFinderResult r = sweep(f, [&](double) { return losses[i++]; });
  ASSERT_EQ(r.curve.size(), 3u);
  EXPECT_DOUBLE_EQ(r.curve[0].smoothed, 4.0);
  EXPECT_DOUBLE_EQ(r.curve[1].smoothed, (0.25 * 4 + 0.5 * 2) / 0.75);
  EXPECT_DOUBLE_EQ(r.curve[2].smoothed, (0.125 * 4 + 0.25 * 2 + 0.5 * 3) / 0.875);
  EXPECT_EQ(r.curve[1].loss, 2.0);
}

TEST(LrFinder, StopsOnNaN) {
  LrFinder f;
  LrFinderResult r =
      sweep(f, [](double lr) { return lr > 1e-2 ? std::numeric_limits<double>::quiet_NaN() : synthetic_loss(lr); });
  EXPECT_TRUE(r.diverged);
  EXPECT_NE(r.stop_reason.find("non-finite"), std::string::npos) << r.stop_reason;
  for (const auto& p : r.curve) {
    EXPECT_TRUE(std::isfinite(p.loss));
    EXPECT_LE(p.lr, 1e-2);
  }
  EXPECT_GT(r.suggested_lr, 0.0);
  EXPECT_LE(r.suggested_lr, 1e-2);
}

TEST(LrFinder, MisuseAndBadConfig) {
  LrFinder f;
  EXPECT_THROW(f.result(), Error);
  f.next_lr();
  EXPECT_THROW(f.next_lr(), Error);
  f.record(1.0);
  EXPECT_THROW(f.record(1.0), Error);

  auto error_of = [](const nlohmann::json& j) {
    try {
      LrFinderConfig::from_json(j);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error_of({{"start_lr", 0}}).find("'start_lr'"), std::string::npos);
  EXPECT_NE(error_of({{"end_lr", 1e-8}}).find("'end_lr'"), std::string::npos);
  EXPECT_NE(error_of({{"num_iters", 1}}).find("'num_iters'"), std::string::npos);
  EXPECT_NE(error_of({{"num_iters", 2.5}}).find("'num_iters'"), std::string::npos);
  EXPECT_NE(error_of({{"beta", 1}}).find("'beta'"), std::string::npos);
  EXPECT_NE(error_of({{"iters", 10}}).find("'iters'"), std::string::npos);
  EXPECT_EQ(error_of(LrFinderConfig{}.to_json()), "(no error)");
}

}  // namespace
}  // namespace perceptra
