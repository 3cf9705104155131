// Sweep specs (parsing, field-naming errors, the combination rule, draws),
// and the early termination rules on hand-made curves.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/sweep/json_path.h"
#include "core/sweep/pruner.h"
#include "core/sweep/spec.h"
#include "core/sweep/trials.h"
#include "core/tensor/error.h"

using namespace perceptra;
using nlohmann::json;

namespace {

// The example of issue 19, verbatim.
json issue_example() {
  return json::parse(R"({"base": {"data": "sample", "model": "lenet5", "epochs": 2},
   "grid": {"optimizer.lr": [0.01, 0.1], "batch_size": [32, 64]},
   "random": {"optimizer.weight_decay": {"log_uniform": [1e-5, 1e-2]}}, "trials": 4,
   "metric": "valid_accuracy", "goal": "max"})");
}

std::string error_of(const json& j) {
  try {
    SweepSpec::from_json(j);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(SweepSpec, IssueExampleIsAcceptedAndExpandsGridPointsTimesDraws) {
  SweepSpec s = SweepSpec::from_json(issue_example());
  EXPECT_EQ(s.grid_points(), 4);
  EXPECT_EQ(s.trials, 4);
  EXPECT_EQ(s.size(), 16);  // each grid point with its own 4 draws
  EXPECT_TRUE(s.maximize());
  auto trials = sweep_trials(s);
  ASSERT_EQ(trials.size(), 16u);
  std::set<std::pair<double, int>> points;
  std::set<double> decays;
  for (auto& t : trials) {
    double lr = t.params["optimizer.lr"], wd = t.params["optimizer.weight_decay"];
    int bs = t.params["batch_size"];
    points.insert({lr, bs});
    decays.insert(wd);
    EXPECT_GE(wd, 1e-5);
    EXPECT_LE(wd, 1e-2);
    // The values land in the trial's TrainConfig.
    TrainConfig c = trial_config(t);
    EXPECT_FLOAT_EQ(c.optimizer.lr, static_cast<float>(lr));
    EXPECT_EQ(c.batch_size, bs);
    EXPECT_FLOAT_EQ(c.optimizer.weight_decay, static_cast<float>(wd));
    EXPECT_EQ(c.epochs, 2);
    EXPECT_EQ(c.data, "sample");
  }
  EXPECT_EQ(points.size(), 4u);   // every combination
  EXPECT_EQ(decays.size(), 16u);  // every trial its own draw
  // Trial i = grid point i / trials, draw i % trials; the last grid path
  // (alphabetically: optimizer.lr after batch_size) varies fastest.
  EXPECT_EQ(trials[0].params["batch_size"], 32);
  EXPECT_EQ(trials[0].params["optimizer.lr"], 0.01);
  EXPECT_EQ(trials[4].params["optimizer.lr"], 0.1);
  EXPECT_EQ(trials[8].params["batch_size"], 64);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(trials[i].params["optimizer.lr"], 0.01);
}

TEST(SweepSpec, GridAloneRandomAloneAndDeterministicDraws) {
  json g = {{"base", {{"data", "sample"}}}, {"grid", {{"optimizer.lr", {0.1, 0.2, 0.3}}, {"seed", {1, 2}}}}};
  SweepSpec sg = SweepSpec::from_json(g);
  EXPECT_EQ(sg.size(), 6);
  json r = {{"base", {{"data", "sample"}}},
            {"random",
             {{"optimizer.momentum", {{"uniform", {0.8, 0.9}}}},
              {"batch_size", {{"log_uniform", {16, 256}}}},
              {"optimizer.kind", {{"choice", {"sgd", "adam"}}}}}},
            {"trials", 20},
            {"seed", 7}};
  SweepSpec sr = SweepSpec::from_json(r);
  EXPECT_EQ(sr.size(), 20);
  auto a = sweep_trials(sr), b = sweep_trials(SweepSpec::from_json(r));
  std::set<std::string> kinds;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].params, b[i].params);  // same spec, same trials (resume relies on it)
    EXPECT_TRUE(a[i].params["batch_size"].is_number_integer()) << a[i].params;  // integer field rounds
    int bs = a[i].params["batch_size"];
    EXPECT_GE(bs, 16);
    EXPECT_LE(bs, 256);
    double m = a[i].params["optimizer.momentum"];
    EXPECT_GE(m, 0.8);
    EXPECT_LT(m, 0.9);
    kinds.insert(a[i].params["optimizer.kind"].get<std::string>());
    EXPECT_NO_THROW(trial_config(a[i]));
  }
  EXPECT_EQ(kinds.size(), 2u);
  r["seed"] = 8;
  EXPECT_NE(sweep_trials(SweepSpec::from_json(r))[0].params, a[0].params);
  // Round trip through the store's JSON.
  SweepSpec back = SweepSpec::from_json(sr.to_json());
  EXPECT_EQ(sweep_trials(back)[5].params, a[5].params);
}

TEST(SweepSpec, ErrorsNameTheField) {
  json j = issue_example();
  j["grid"]["optimizer.lrr"] = {0.1};
  EXPECT_NE(error_of(j).find("grid.optimizer.lrr"), std::string::npos) << error_of(j);
  j = issue_example();
  j["random"]["optimizer.weight_decay"] = {{"log_uniform", {0, 1}}};
  EXPECT_NE(error_of(j).find("random.optimizer.weight_decay.log_uniform"), std::string::npos) << error_of(j);
  j = issue_example();
  j["random"]["optimizer.weight_decay"] = {{"gaussian", {0, 1}}};
  EXPECT_NE(error_of(j).find("gaussian"), std::string::npos) << error_of(j);
  j = issue_example();
  j["random"]["optimizer.weight_decay"] = {{"uniform", {2, 1}}};
  EXPECT_NE(error_of(j).find("LO <= HI"), std::string::npos) << error_of(j);
  j = issue_example();
  j.erase("trials");
  EXPECT_NE(error_of(j).find("'trials'"), std::string::npos) << error_of(j);
  j = issue_example();
  j["metric"] = "accuracy";
  EXPECT_NE(error_of(j).find("'metric'"), std::string::npos) << error_of(j);
  j = issue_example();
  j["goal"] = "maximize";
  EXPECT_NE(error_of(j).find("'goal'"), std::string::npos) << error_of(j);
  j = issue_example();
  j["base"]["epochs"] = 0;
  EXPECT_NE(error_of(j).find("sweep.base"), std::string::npos) << error_of(j);
  EXPECT_NE(error_of(j).find("epochs"), std::string::npos) << error_of(j);
  j = issue_example();
  j["early_terminate"] = {{"type", "hyperband"}};
  EXPECT_NE(error_of(j).find("early_terminate.type"), std::string::npos) << error_of(j);
  j = issue_example();
  j["early_terminate"] = {{"type", "asha"}, {"eta", 1}};
  EXPECT_NE(error_of(j).find("early_terminate.eta"), std::string::npos) << error_of(j);
  j = issue_example();
  j["grid"]["db_path"] = {"a.db"};
  EXPECT_NE(error_of(j).find("grid.db_path"), std::string::npos) << error_of(j);
  j = issue_example();
  j["grid"]["optimizer.weight_decay"] = {0.1};
  EXPECT_NE(error_of(j).find("also in 'grid'"), std::string::npos) << error_of(j);
  j = issue_example();
  j["colour"] = 1;
  EXPECT_NE(error_of(j).find("unknown field 'colour'"), std::string::npos) << error_of(j);
  EXPECT_NE(error_of({{"base", {{"data", "sample"}}}}).find("nothing to vary"), std::string::npos);
  EXPECT_NE(error_of({{"grid", {{"seed", {1}}}}}).find("'base'"), std::string::npos);
  // A runaway product is refused before anything is allocated.
  json big = {{"base", json::object()}, {"random", {{"seed", {{"choice", {1, 2}}}}}}, {"trials", 1000}};
  big["grid"] = {{"optimizer.lr", json::array()}, {"batch_size", json::array()}};
  for (int i = 0; i < 100; ++i) {
    big["grid"]["optimizer.lr"].push_back(0.01 * (i + 1));
    big["grid"]["batch_size"].push_back(i + 1);
  }
  EXPECT_NE(error_of(big).find("more than"), std::string::npos) << error_of(big);
  // Lower-is-better metrics default to "min".
  j = issue_example();
  j.erase("goal");
  j["metric"] = "valid_loss";
  EXPECT_FALSE(SweepSpec::from_json(j).maximize());
}

TEST(SweepSpec, BadTrialValuesFailThatTrialNamingIt) {
  json j = {{"base", {{"data", "sample"}}}, {"grid", {{"batch_size", {16, 0}}}}};
  SweepSpec s = SweepSpec::from_json(j);
  auto t = sweep_trials(s);
  EXPECT_NO_THROW(trial_config(t[0]));
  try {
    trial_config(t[1]);
    FAIL() << "batch_size 0 accepted";
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("trial 1"), std::string::npos) << m;
    EXPECT_NE(m.find("batch_size"), std::string::npos) << m;
  }
}

TEST(JsonPath, GetAndSetNested) {
  json j = {{"optimizer", {{"lr", 0.1}}}};
  EXPECT_EQ(*json_path_get(j, "optimizer.lr"), 0.1);
  EXPECT_FALSE(json_path_get(j, "optimizer.nope"));
  EXPECT_FALSE(json_path_get(j, "optimizer.lr.x"));
  json_path_set(j, "schedule.kind", "cosine");
  EXPECT_EQ(j["schedule"]["kind"], "cosine");
  EXPECT_THROW(json_path_set(j, "optimizer.lr.x", 1), InputError);
}

TEST(Pruner, MedianRuleStopsTrialsBelowTheMedianAfterGrace) {
  EarlyTermination rule;
  rule.type = "median";
  rule.grace_epochs = 2;
  rule.min_trials = 2;
  Pruner p(rule, /*maximize=*/true);
  // Two completed trials: 0.5, 0.6, 0.7 and 0.4, 0.8, 0.9.
  EXPECT_FALSE(p.report(0, 1, 0.5, 3).stop);
  EXPECT_FALSE(p.report(0, 2, 0.6, 3).stop);  // nobody else yet
  EXPECT_FALSE(p.report(0, 3, 0.7, 3).stop);
  EXPECT_FALSE(p.report(1, 1, 0.4, 3).stop);
  EXPECT_FALSE(p.report(1, 2, 0.8, 3).stop);  // only one other trial: min_trials 2
  EXPECT_FALSE(p.report(1, 3, 0.9, 3).stop);
  // A weak trial: epoch 1 is within the grace period even though it is bad.
  EXPECT_FALSE(p.report(2, 1, 0.1, 3).stop);
  // At epoch 2 the others' best-so-far are 0.6 and 0.8: median 0.7 > 0.2.
  PruneDecision d = p.report(2, 2, 0.2, 3);
  EXPECT_TRUE(d.stop);
  EXPECT_NE(d.reason.find("median"), std::string::npos) << d.reason;
  // A good one is kept (others 0.6, 0.8, 0.2: median 0.6).
  EXPECT_FALSE(p.report(3, 2, 0.75, 3).stop);
  // Others now 0.6, 0.8, 0.2, 0.75: median 0.675.
  EXPECT_TRUE(p.report(4, 2, 0.65, 3).stop);
  EXPECT_FALSE(p.report(5, 2, 0.7, 3).stop);
}

TEST(Pruner, MedianRuleForLossesAndBestSoFar) {
  EarlyTermination rule;
  rule.type = "median";
  rule.grace_epochs = 1;
  rule.min_trials = 1;
  Pruner p(rule, /*maximize=*/false);
  p.replay(0, {1.0, 0.5}, 2);
  // Trial 1: 0.4 then a noisy 0.9: best-so-far 0.4 < 0.5, so it is kept.
  EXPECT_FALSE(p.report(1, 1, 0.4, 3).stop);
  EXPECT_FALSE(p.report(1, 2, 0.9, 3).stop);
  EXPECT_TRUE(p.report(2, 1, 1.5, 3).stop);  // worse than the median 0.7 of 1.0 and 0.4
}

TEST(Pruner, AshaKeepsTheTopFractionAtEachRung) {
  EarlyTermination rule;
  rule.type = "asha";
  rule.grace_epochs = 1;
  rule.eta = 2;
  Pruner p(rule, /*maximize=*/true);
  // Rungs at epochs 1, 2, 4 (total 8). The first trial at a rung continues.
  EXPECT_FALSE(p.report(0, 1, 0.5, 8).stop);
  EXPECT_FALSE(p.report(0, 2, 0.6, 8).stop);
  EXPECT_FALSE(p.report(0, 3, 0.65, 8).stop);  // not a rung
  EXPECT_FALSE(p.report(1, 1, 0.7, 8).stop);   // above the cutoff of {0.5}
  EXPECT_TRUE(p.report(2, 1, 0.3, 8).stop);    // cutoff = median of {0.5, 0.7} = 0.6
  EXPECT_FALSE(p.report(3, 1, 0.65, 8).stop);  // cutoff of {0.5, 0.7, 0.3} = 0.5
  // The last epoch is never a stopping point.
  Pruner q(rule, true);
  q.report(0, 1, 0.9, 1);
  EXPECT_FALSE(q.report(1, 1, 0.1, 1).stop);
  // Minimising: lower is better.
  Pruner m(rule, false);
  m.report(0, 1, 1.0, 4);
  m.report(1, 1, 0.5, 4);
  EXPECT_TRUE(m.report(2, 1, 0.9, 4).stop);  // cutoff median of {1.0, 0.5} = 0.75
  EXPECT_FALSE(m.report(3, 1, 0.6, 4).stop);
}

TEST(Pruner, NoneNeverStops) {
  Pruner p(EarlyTermination{}, true);
  p.report(0, 1, 0.9, 3);
  p.report(1, 1, 0.9, 3);
  EXPECT_FALSE(p.report(2, 1, 0.0, 3).stop);
}
