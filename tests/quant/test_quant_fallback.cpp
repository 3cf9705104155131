// The automatic fallback is decided on held-out training images and only
// when a layer's accuracy drop stands out from the noise of that drop
// (decide_fallback), and the images come from the data as ptq_data.h says.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/data/resolve.h"
#include "core/quant/int8_export.h"
#include "core/quant/post_training.h"
#include "core/quant/ptq_data.h"
#include "quant_test_util.h"

using namespace perceptra;
using namespace perceptra::quant;
using namespace perceptra::quanttest;

namespace {

// n images, all labelled 0; float right on all but the `better` ones, int8
// wrong on the `worse` ones and right on the `better` ones.
struct Paired {
  std::vector<int> labels, f, q;
};
Paired paired(int n, int worse, int better) {
  Paired p;
  p.labels.assign(size_t(n), 0);
  p.f.assign(size_t(n), 0);
  p.q.assign(size_t(n), 0);
  for (int i = 0; i < worse; ++i) p.q[size_t(i)] = 1;
  for (int i = worse; i < worse + better; ++i) p.f[size_t(i)] = 1;
  return p;
}

}  // namespace

TEST(QuantFallbackRule, DropMustExceedTheThresholdAndTwoPairedStandardErrors) {
  // One image out of 2000 (0.05 points) never decides, even at threshold 0.
  Paired p = paired(2000, 1, 0);
  FallbackDecision d = decide_fallback(p.f, p.q, p.labels, 0.0, 2.0);
  EXPECT_EQ(d.worse, 1);
  EXPECT_DOUBLE_EQ(d.drop, 0.0005);
  EXPECT_FALSE(d.fallback);
  // Ten images lost, none gained: 0.5 points, se = sqrt((10/n - d^2)/n).
  p = paired(2000, 10, 0);
  d = decide_fallback(p.f, p.q, p.labels, 0.002, 2.0);
  EXPECT_DOUBLE_EQ(d.drop, 0.005);
  EXPECT_NEAR(d.standard_error, std::sqrt((10.0 / 2000 - 0.005 * 0.005) / 2000), 1e-12);
  EXPECT_TRUE(d.fallback);
  EXPECT_NEAR(d.threshold, 2 * d.standard_error, 1e-12);
  // The same net loss of 8 images inside 52 changed ones is noise: a drop of
  // 0.4 points (above the 0.2-point threshold) that stays int8.
  p = paired(2000, 30, 22);
  d = decide_fallback(p.f, p.q, p.labels, 0.002, 2.0);
  EXPECT_DOUBLE_EQ(d.drop, 0.004);
  EXPECT_GT(2 * d.standard_error, d.drop);
  EXPECT_FALSE(d.fallback);
  // ...but with z = 0 (threshold only) it falls back, as before the rule.
  EXPECT_TRUE(decide_fallback(p.f, p.q, p.labels, 0.002, 0.0).fallback);
  // Below the threshold it stays int8 however clear the loss.
  p = paired(20000, 30, 0);
  d = decide_fallback(p.f, p.q, p.labels, 0.002, 2.0);
  EXPECT_DOUBLE_EQ(d.drop, 0.0015);
  EXPECT_FALSE(d.fallback);
  // A negative threshold turns the fallback off; gains never trigger it.
  p = paired(2000, 100, 0);
  EXPECT_FALSE(decide_fallback(p.f, p.q, p.labels, -1.0, 2.0).fallback);
  p = paired(2000, 0, 100);
  EXPECT_FALSE(decide_fallback(p.f, p.q, p.labels, 0.0, 2.0).fallback);
}

TEST(QuantFallbackRule, SensitivityRunsOnTheHeldOutImagesNotTheEvaluationOnes) {
  auto model = make_model("simplecnn");
  std::vector<int> labels;
  Tensor x = fashion_images(&labels);
  // Held-out: the first 16 fixture images; evaluation: all 32.
  LabeledImages eval{x, labels};
  LabeledImages held{x.slice(0, 16), std::vector<int>(labels.begin(), labels.begin() + 16)};
  PtqOptions o;
  o.method = CalibrationMethod::MinMax;
  o.sensitivity_data = &held;
  int64_t seen = 0;
  double last = 0;
  o.progress_fraction = [&](double f) {
    EXPECT_GE(f, last);
    last = f;
    ++seen;
  };
  PtqResult r = quantize_post_training(*model, x, &eval, o);
  EXPECT_EQ(r.report["sensitivity_images"], 16);
  EXPECT_EQ(r.report["sensitivity_split"], "held-out training images");
  EXPECT_EQ(r.report["eval_images"], kImages);
  EXPECT_GT(seen, 0);
  EXPECT_DOUBLE_EQ(last, 1.0);
  for (const auto& s : r.report["sensitivity"]) {
    EXPECT_LE(s["worse"].get<int64_t>() + s["better"].get<int64_t>(), 16) << s.dump();
    EXPECT_TRUE(s.contains("standard_error"));
  }
  // Cancelling stops with PtqCancelled.
  o.progress_fraction = {};
  int calls = 0;
  o.cancelled = [&] { return ++calls > 2; };
  EXPECT_THROW(quantize_post_training(*model, x, &eval, o), PtqCancelled);
}

TEST(QuantData, CalibrationHeldOutAndEvaluationImagesComeFromTheirSplits) {
  DataSource src = open_dataset("sample");
  Rng rng(2);
  auto model =
      Model::from_spec(Model::builtin_spec("simplecnn", src.train->sample_shape(), int(src.class_names.size())), rng);
  ModelMeta meta;
  meta.mean = {0.5f};
  meta.std = {0.25f};
  PtqDataOptions o;
  o.calibration = 64;
  o.holdout = 200;
  o.eval_images = 50;
  PtqData d = prepare_ptq_data(src, "sample", *model, meta, o);
  EXPECT_EQ(d.calibration.dim(0), 64);
  ASSERT_EQ(d.holdout_indices.size(), 200u);
  EXPECT_EQ(d.holdout.images.dim(0), 200);
  std::set<int64_t> cal(d.calibration_indices.begin(), d.calibration_indices.end());
  std::set<int64_t> hold(d.holdout_indices.begin(), d.holdout_indices.end());
  EXPECT_EQ(cal.size(), 64u);
  EXPECT_EQ(hold.size(), 200u);  // no image twice
  for (int64_t i : hold) EXPECT_EQ(cal.count(i), 0u) << "held-out image " << i << " is a calibration image";
  for (size_t k = 0; k < d.holdout_indices.size(); ++k)
    EXPECT_EQ(d.holdout.labels[k], src.train->label(d.holdout_indices[k]));
  // Normalised with the model's statistics.
  std::vector<float> px(784);
  src.train->image(d.holdout_indices[7], px.data());
  auto v = d.holdout.images.slice(7, 8).to_vector();
  EXPECT_FLOAT_EQ(v[300], (px[300] - 0.5f) / 0.25f);
  EXPECT_EQ(d.eval.labels.size(), 50u);
  EXPECT_EQ(d.eval_split, "all images");  // the sample data has no test split
  // More held-out images than are left after calibration: all the rest.
  o.holdout = 100000;
  d = prepare_ptq_data(src, "sample", *model, meta, o);
  EXPECT_EQ(int64_t(d.holdout_indices.size()), src.train->size() - 64);
  // Data that does not fit the model names the data.
  auto wrong = Model::from_spec(Model::builtin_spec("simplecnn", Shape{1, 28, 28}, 10), rng);
  try {
    prepare_ptq_data(src, "sample", *wrong, meta, o);
    FAIL() << "10-class model accepted 6-class data";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sample"), std::string::npos) << e.what();
  }
}

TEST(QuantData, FlippedImagesCarryTheirPixelsAndBadIndicesAreAnError) {
  DataSource src = open_dataset("sample");
  nlohmann::json rep = {{"flipped",
                         {{{"index", 3}, {"label", 1}, {"float", 1}, {"int8", 2}},
                          {{"index", 40}, {"label", 0}, {"float", 4}, {"int8", 0}}}}};
  auto f = load_flipped_images(rep, evaluation_split(src));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[1].index, 40);
  EXPECT_EQ(f[1].float_pred, 4);
  EXPECT_EQ(f[1].int8_pred, 0);
  std::vector<float> px(784);
  src.train->image(40, px.data());
  EXPECT_EQ(f[1].pixels, px);
  EXPECT_EQ(load_flipped_images(rep, evaluation_split(src), 1).size(), 1u);
  rep["flipped"][0]["index"] = 1000000;
  EXPECT_THROW(load_flipped_images(rep, evaluation_split(src)), InputError);
}
