// LR schedules against torch.optim.lr_scheduler (OneCycleLR, CosineAnnealingLR,
// StepLR): relative tolerance 1e-6 (both sides compute in double).
#include <cmath>

#include <gtest/gtest.h>

#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/tensor/error.h"
#include "tests/optim/fixture_json.h"

namespace perceptra {
namespace {

void expect_rel(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, 1e-12 + 1e-6 * std::fabs(want)) << what;
}

TEST(ScheduleParity, MatchesPyTorchSchedulers) {
  nlohmann::json fx = test::load_fixture("optim/schedules.json");
  ASSERT_GE(fx["cases"].size(), 5u);
  for (const auto& c : fx["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const int64_t total = c["total_steps"];
    auto s = make_schedule(c["config"], c["base_lr"].get<double>(), 0.9, total);
    ASSERT_EQ(c["lr"].size(), static_cast<size_t>(total));
    for (int64_t k = 0; k < total; ++k)
      expect_rel(s->lr(k), c["lr"][k].get<double>(), name + " lr at step " + std::to_string(k));
    if (c.contains("momentum")) {
      EXPECT_TRUE(s->cycles_momentum());
      for (int64_t k = 0; k < total; ++k)
        expect_rel(s->momentum(k), c["momentum"][k].get<double>(), name + " momentum at step " + std::to_string(k));
    }
  }
}

TEST(Schedule, OneCycleShape) {
  auto s = make_schedule(nlohmann::json("onecycle"), 0.1, 0.9, 400);
  EXPECT_NEAR(s->lr(0), 0.1 / 25, 1e-12);
  EXPECT_NEAR(s->lr(99), 0.1, 1e-12);  // peak at pct_start * total - 1 (fastai's 0.25)
  EXPECT_NEAR(s->lr(399), 0.1 / 25 / 1e4, 1e-12);
  EXPECT_NEAR(s->momentum(0), 0.95, 1e-12);
  EXPECT_NEAR(s->momentum(99), 0.85, 1e-12);
  EXPECT_NEAR(s->momentum(399), 0.95, 1e-12);
  for (int k = 1; k < 100; ++k) EXPECT_GT(s->lr(k), s->lr(k - 1));
  for (int k = 100; k < 400; ++k) EXPECT_LT(s->lr(k), s->lr(k - 1));
  // Past the end: the final value, not a new cycle.
  EXPECT_EQ(s->lr(400), s->lr(399));
  EXPECT_EQ(s->lr(10000), s->lr(399));
}

TEST(Schedule, CosineWarmup) {
  ScheduleConfig c;
  c.kind = "cosine";
  c.warmup_steps = 10;
  c.min_lr = 0.001;
  auto s = make_schedule(c, 0.1, 0.9, 110);
  EXPECT_NEAR(s->lr(0), 0.01, 1e-12);
  EXPECT_NEAR(s->lr(4), 0.05, 1e-12);
  EXPECT_NEAR(s->lr(9), 0.1, 1e-12);
  EXPECT_NEAR(s->lr(10), 0.1, 1e-12);
  EXPECT_NEAR(s->lr(60), 0.001 + 0.099 / 2, 1e-12);  // half way down
  EXPECT_NEAR(s->lr(110), 0.001, 1e-12);
  EXPECT_NEAR(s->lr(500), 0.001, 1e-12);
  for (int k = 11; k < 110; ++k) EXPECT_LT(s->lr(k), s->lr(k - 1));
  EXPECT_FALSE(s->cycles_momentum());
  EXPECT_EQ(s->momentum(50), 0.9);
}

TEST(Schedule, ConstantAndApply) {
  auto s = make_schedule(nlohmann::json{{"kind", "constant"}}, 0.02, 0.9, 10);
  EXPECT_EQ(s->lr(0), 0.02);
  EXPECT_EQ(s->lr(9), 0.02);
  Parameter p;
  auto opt = make_optimizer(OptimizerConfig{}, {&p});
  opt->set_momentum(0.7f);
  s->apply(3, *opt);
  EXPECT_FLOAT_EQ(opt->lr(), 0.02f);
  EXPECT_FLOAT_EQ(opt->momentum(), 0.7f);  // constant does not touch momentum
  auto one = make_schedule(nlohmann::json("onecycle"), 0.5, 0.9, 100);
  one->apply(24, *opt);
  EXPECT_FLOAT_EQ(opt->lr(), 0.5f);
  EXPECT_FLOAT_EQ(opt->momentum(), 0.85f);
}

TEST(Schedule, ConfigRoundTrip) {
  ScheduleConfig c;
  c.kind = "onecycle";
  c.pct_start = 0.3;
  c.cycle_momentum = false;
  ScheduleConfig r = ScheduleConfig::from_json(c.to_json());
  EXPECT_EQ(r.to_json(), c.to_json());
  auto s = make_schedule(r, 0.1, 0.9, 100);
  EXPECT_FALSE(s->cycles_momentum());
  EXPECT_EQ(s->momentum(10), 0.9);
}

std::string schedule_error(const nlohmann::json& j, int64_t total = 100) {
  try {
    make_schedule(j, 0.1, 0.9, total);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Schedule, ErrorsNameTheField) {
  EXPECT_NE(schedule_error({{"kind", "exponential"}}).find("'kind'"), std::string::npos);
  EXPECT_NE(schedule_error("warm").find("'kind'"), std::string::npos);
  EXPECT_NE(schedule_error({{"kind", "step"}, {"step_size", 0}}).find("'step_size'"), std::string::npos);
  EXPECT_NE(schedule_error({{"kind", "step"}, {"gamma", "half"}}).find("'gamma'"), std::string::npos);
  EXPECT_NE(schedule_error({{"kind", "cosine"}, {"min_lr", 1.0}}).find("'min_lr'"), std::string::npos);
  EXPECT_NE(schedule_error({{"kind", "cosine"}, {"warmup_steps", 100}}).find("'warmup_steps'"), std::string::npos);
  EXPECT_NE(schedule_error({{"kind", "onecycle"}, {"pct_start", 1.2}}).find("'pct_start'"), std::string::npos);
  EXPECT_NE(schedule_error({{"kind", "onecycle"}, {"pct_stat", 0.3}}).find("'pct_stat'"), std::string::npos);
  EXPECT_NE(schedule_error("cosine", 0).find("total steps"), std::string::npos);
  EXPECT_EQ(schedule_error({{"kind", "step"}, {"step_size", 30.0}}), "(no error)");
}

}  // namespace
}  // namespace perceptra
