// The cost estimate and the guard (issue 14): per-sample costs from the
// spec match the built model; activation memory scales with the pixels and
// the batch; the limit comes from the environment when set; a run over it
// is refused before its model is built (and forced through with force);
// validation batches shrink to fit; what preparation adapts is noted; the
// recorder keeps the time trained; a run's history reloads as events.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/nn/model_cost.h"
#include "core/store/store.h"
#include "core/tensor/error.h"
#include "core/train/cost_estimate.h"
#include "core/train/prepared_run.h"
#include "core/train/progress_text.h"
#include "core/train/run_history.h"
#include "core/train/trainer.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using namespace perceptra;
using namespace std::chrono_literals;

namespace {

struct Limit {
  explicit Limit(const char* mb) { setenv("PERCEPTRA_MEMORY_LIMIT_MB", mb, 1); }
  ~Limit() { unsetenv("PERCEPTRA_MEMORY_LIMIT_MB"); }
};

struct Env {
  std::string dir, data;
  explicit Env(const std::string& tag, int classes = 3) {
    dir = test::make_temp_dir(tag);
    data = test::make_tiny_dataset(dir + "/data", classes);
  }
  ~Env() { fs::remove_all(dir); }
  TrainConfig config(int epochs = 1) const {
    TrainConfig c;
    c.data = data;
    c.model = test::tiny_mlp_spec();
    c.epochs = epochs;
    c.batch_size = 16;
    c.optimizer.lr = 0.05f;
    c.seed = 7;
    c.out_dir = dir + "/runs";
    c.db_path = dir + "/p.db";
    c.device = "cpu";
    return c;
  }
};

std::vector<TrainEvent> train(Trainer& t) {
  std::vector<TrainEvent> all;
  t.start();
  while (auto e = t.events().wait_pop(60000ms)) {
    all.push_back(*e);
    if (std::holds_alternative<TrainEnd>(*e)) break;
  }
  t.wait();
  return all;
}

std::vector<std::string> logs(const std::vector<TrainEvent>& evs, const std::string& level) {
  std::vector<std::string> out;
  for (auto& e : evs)
    if (auto* l = std::get_if<LogMessage>(&e); l && l->level == level) out.push_back(l->text);
  return out;
}

bool any_contains(const std::vector<std::string>& v, const std::string& s) {
  for (auto& x : v)
    if (x.find(s) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(ModelCost, CountsMatchTheBuiltModel) {
  for (const char* name : {"mlp", "lenet5", "simplecnn", "resnet-small", "resnet18"}) {
    const Shape input = std::string(name) == "resnet18" ? Shape{3, 64, 64} : Shape{1, 28, 28};
    const auto spec = Model::builtin_spec(name, input, 10);
    const ModelCost c = model_cost(spec);
    Rng rng(1);
    auto m = Model::from_spec(spec, rng);
    EXPECT_EQ(c.parameters, m->parameter_count()) << name;
    EXPECT_GT(c.forward_flops, 0) << name;
    EXPECT_GT(c.train_kept_floats, c.input.numel()) << name;
    EXPECT_GT(c.infer_peak_floats, 0) << name;
  }
}

TEST(ModelCost, ConvolutionFlopsAndActivationsScaleWithPixels) {
  const auto small = model_cost(Model::builtin_spec("resnet-small", Shape{3, 32, 32}, 10));
  const auto big = model_cost(Model::builtin_spec("resnet-small", Shape{3, 64, 64}, 10));
  // Four times the pixels: about four times the work and the memory.
  EXPECT_NEAR(big.forward_flops / small.forward_flops, 4.0, 0.2);
  EXPECT_NEAR(double(big.train_kept_floats) / double(small.train_kept_floats), 4.0, 0.2);
  EXPECT_EQ(big.parameters, small.parameters);  // global pooling: size-independent
  // A conv layer's FLOPs by hand: 3x3, 1 -> 8 channels, 10x10 output.
  nlohmann::json spec = {{"input", {1, 10, 10}},
                         {"classes", 2},
                         {"layers",
                          {{{"type", "conv2d"}, {"out_channels", 8}, {"kernel", 3}, {"padding", 1}, {"bias", false}},
                           {{"type", "flatten"}},
                           {{"type", "linear"}, {"out_features", 2}, {"bias", false}}}}};
  const auto c = model_cost(spec);
  EXPECT_DOUBLE_EQ(c.forward_flops, 2.0 * 8 * 9 * 100 + 2.0 * 800 * 2);
}

TEST(CostEstimate, ReportTheNumbersAndTheVerdictAgainstTheLimit) {
  CostRequest q;
  q.spec = Model::builtin_spec("simplecnn", Shape{3, 600, 640}, 3);
  q.batch_size = 128;
  q.valid_images = 100;
  {
    Limit l("4096");
    const CostEstimate e = estimate_cost(q);
    EXPECT_EQ(e.limit.source, "PERCEPTRA_MEMORY_LIMIT_MB");
    EXPECT_EQ(e.limit.bytes, int64_t(4096) << 20);
    EXPECT_GT(e.model.parameters, 100'000'000);  // the 196,627,907
    EXPECT_EQ(e.verdict, CostVerdict::TooLarge);
    EXPECT_GT(e.train_activation_bytes, int64_t(10) << 30);
    const std::string r = e.refusal();
    EXPECT_NE(r.find("GB"), std::string::npos) << r;
    // What to change: a size that fits (the 196 M weights alone fill most
    // of 4 GB, so no batch size would).
    ASSERT_FALSE(e.suggested_size.empty()) << r;
    EXPECT_NE(r.find("--image-size " + e.suggested_size), std::string::npos) << r;
    CostRequest smaller = q;
    const auto hw = e.suggested_size;
    const int64_t side = std::stoll(hw);
    smaller.spec = Model::builtin_spec(
        "simplecnn", Shape{3, side, hw.find('x') == std::string::npos ? side : std::stoll(hw.substr(hw.find('x') + 1))},
        3);
    EXPECT_EQ(estimate_cost(smaller).verdict, CostVerdict::Fits);
    // A batch suggestion when only the batch is the problem.
    CostRequest wide = q;
    wide.spec = Model::builtin_spec("resnet-small", Shape{3, 600, 640}, 3);
    const CostEstimate we = estimate_cost(wide);
    ASSERT_EQ(we.verdict, CostVerdict::TooLarge);
    EXPECT_GT(we.suggested_batch, 0);
    EXPECT_NE(we.refusal().find("--batch-size " + std::to_string(we.suggested_batch)), std::string::npos)
        << we.refusal();
    EXPECT_THROW(enforce_cost(e, false), InputError);
    EXPECT_NO_THROW(enforce_cost(e, true));
    // Half the batch: half the activations.
    CostRequest half = q;
    half.batch_size = 64;
    EXPECT_NEAR(double(estimate_cost(half).train_activation_bytes) / double(e.train_activation_bytes), 0.5, 0.01);
  }
  {
    Limit l("10000000");  // 10 TB
    EXPECT_EQ(estimate_cost(q).verdict, CostVerdict::Fits);
  }
  // Without the override: the machine's MemAvailable.
  unsetenv("PERCEPTRA_MEMORY_LIMIT_MB");
  const MemoryLimit m = memory_limit();
  EXPECT_EQ(m.source, "MemAvailable");
  EXPECT_GT(m.bytes, process_rss_bytes());
}

TEST(CostEstimate, InferenceBatchShrinksToFit) {
  Limit l("3000");
  CostRequest q;
  q.spec = Model::builtin_spec("simplecnn", Shape{3, 600, 640}, 3);
  q.batch_size = 4;
  q.valid_images = 1000;
  const CostEstimate e = estimate_cost(q);
  const int b = safe_inference_batch(e, 256);
  EXPECT_GE(b, 1);
  EXPECT_LT(b, 256);
  CostRequest at = q;
  at.inference_batch = b;
  EXPECT_NE(estimate_cost(at).infer_verdict, CostVerdict::TooLarge);
}

TEST(CostEstimate, PrepareRefusesBeforeBuildingAndDryRunEstimatesOnly) {
  Env env("guard");
  TrainConfig c = env.config();
  c.image_size = "200";
  c.model = "simplecnn";
  c.batch_size = 64;
  Limit l("300");
  // Refused: no run row, no folder.
  try {
    prepare_run(c);
    FAIL() << "not refused";
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "memory");
    EXPECT_NE(std::string(e.what()).find("available"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(!fs::exists(c.db_path) || ExperimentStore(c.db_path).list_runs().empty());
  EXPECT_FALSE(fs::exists(env.dir + "/runs"));
  // The estimate alone: nothing built.
  PrepareOptions dry;
  dry.record = false;
  dry.estimate_only = true;
  auto r = prepare_run(c, dry);
  ASSERT_TRUE(r->cost.has_value());
  EXPECT_EQ(r->cost->verdict, CostVerdict::TooLarge);
  EXPECT_EQ(r->model, nullptr);
  // Forced: it prepares, and says it was forced.
  PrepareOptions force;
  force.record = false;
  force.force = true;
  auto f = prepare_run(c, force);
  EXPECT_NE(f->model, nullptr);
  bool noted = false;
  for (auto& n : f->notes) noted |= n.text.find("forced") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST(RunNotes, OneClassAndTransferAdaptationsArePublished) {
  // One class: a warning.
  Env one("oneclass", 1);
  TrainConfig c1 = one.config();
  c1.model = test::tiny_mlp_spec(1);
  c1.db_path = "-";
  Trainer t1(prepare_run(c1));
  auto ev1 = train(t1);
  EXPECT_TRUE(any_contains(logs(ev1, "warning"), "one class")) << "no one-class warning";

  // --from with another class count and a size of its own: the decode size,
  // the replaced head and the frozen body are all said.
  Env env("transfer");
  TrainConfig base = env.config();
  base.db_path = "-";
  base.image_size = "12";
  Trainer t0(prepare_run(base));
  auto ev0 = train(t0);
  std::string model_path;
  for (auto& e : ev0)
    if (auto* end = std::get_if<TrainEnd>(&e)) model_path = end->model_path;
  ASSERT_FALSE(model_path.empty());
  Env two("transfer2", 2);
  TrainConfig t = two.config(2);
  t.db_path = "-";
  t.from_model = model_path;
  t.freeze_epochs = 1;
  t.image_size = "20";
  Trainer t2(prepare_run(t));
  auto ev2 = train(t2);
  auto warnings = logs(ev2, "warning");
  auto infos = logs(ev2, "info");
  EXPECT_TRUE(any_contains(warnings, "decoded to [1, 12, 12]")) << "input shape adaptation not said";
  EXPECT_TRUE(any_contains(warnings, "--image-size 20 is ignored"));
  EXPECT_TRUE(any_contains(warnings, "is replaced by a new one with 2 outputs")) << "head replacement not said";
  EXPECT_TRUE(any_contains(infos, "frozen for the first 1 epoch")) << "freezing not said";
  EXPECT_TRUE(any_contains(infos, "cost estimate")) << "the estimate is not published";

  // What the studio estimates before a run from a model file: that file's
  // spec (its input, not the data's) with the head resized, not the
  // configured scratch model.
  const nlohmann::json planned = planned_model_spec(t, Shape{1, 20, 20}, 2);
  EXPECT_EQ(planned["input"], nlohmann::json({1, 12, 12}));
  EXPECT_EQ(planned["classes"], 2);
  const ModelCost from_file = model_cost(planned);
  t.from_model.clear();
  t.model = test::tiny_mlp_spec(2);
  const ModelCost scratch = model_cost(planned_model_spec(t, Shape{1, 20, 20}, 2));
  EXPECT_NE(from_file.forward_flops, scratch.forward_flops) << "the estimate ignores the start model";
}

TEST(RunRecorder, KeepsTheTimeTrainedWhileSlowBatchesRun) {
  Env env("trained-seconds");
  TrainConfig c = env.config(1);
  c.max_batches = 8;  // ~18 s per epoch
  // Batches of ~2 s: the recorder must flush on time, not after 100 batches.
  struct Slow : Callback {
    void on_batch_end(TrainContext&, const BatchEnd&) override { std::this_thread::sleep_for(2200ms); }
  };
  Trainer t(prepare_run(c));
  t.add_callback(std::make_shared<Slow>());
  t.start();
  const auto began = std::chrono::steady_clock::now();
  // While it trains (as a kill would leave it): more than a few seconds recorded.
  double seen = 0;
  for (int i = 0; i < 100 && seen < 4; ++i) {
    std::this_thread::sleep_for(200ms);
    try {
      StoreOptions o;
      o.recover_interrupted = false;
      ExperimentStore s(c.db_path, o);
      for (auto& r : s.list_runs()) seen = std::max(seen, r.duration_s);
      auto series = s.metric_series(t.run()->run_id, "trained_seconds");
      if (series.size()) seen = std::max(seen, series.values.back());
    } catch (const std::exception&) {}
  }
  EXPECT_GE(seen, 4.0) << "a killed run would say ~0 s";
  // Seen mid-epoch, from the batches' flushes (the epoch ends after ~18 s).
  EXPECT_LT(std::chrono::steady_clock::now() - began, 15s);
  t.stop();
  t.wait();
  ExperimentStore s(c.db_path);
  auto runs = s.list_runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_GE(runs[0].duration_s, 4.0);
}

TEST(RunHistory, ReloadsCurvesAsEvents) {
  Env env("history");
  TrainConfig c = env.config(2);
  Trainer t(prepare_run(c));
  auto ev = train(t);
  int64_t batches = 0;
  for (auto& e : ev) batches += std::holds_alternative<BatchEnd>(e);
  const int64_t id = t.run()->run_id;
  RunHistory h = load_run_history(c.db_path, id);
  ASSERT_EQ(int64_t(h.batches.size()), batches);
  EXPECT_EQ(h.batches.front().step, 0);
  ASSERT_EQ(h.epochs.size(), 2u);
  for (auto& e : ev)
    if (auto* ee = std::get_if<EpochEnd>(&e)) {
      EXPECT_NEAR(h.epochs[size_t(ee->epoch)].valid_accuracy, ee->valid_accuracy, 1e-9);
      EXPECT_EQ(h.epochs[size_t(ee->epoch)].step, ee->step);
    }
  // Up to a checkpoint after epoch 1: its batches and that epoch only.
  RunHistory part = load_run_history(c.db_path, id, h.epochs[0].step);
  EXPECT_EQ(int64_t(part.batches.size()), h.epochs[0].step);
  EXPECT_EQ(part.epochs.size(), 1u);
}

TEST(ProgressText, SlowSpeedsAndEtaFromTheMeasuredRate) {
  EXPECT_EQ(speed_text(512.4, 128), "512 images/s");
  EXPECT_EQ(speed_text(3.44, 16), "3.4 images/s");
  const std::string slow = speed_text(0.3, 16);
  EXPECT_NE(slow.find("53 s per batch"), std::string::npos) << slow;
  EXPECT_EQ(speed_text(0, 16), "");
  // A resumed run: 5 batches in 10 s this session, 15 left.
  EXPECT_DOUBLE_EQ(eta_seconds(5, 10, 15), 30);
  EXPECT_LT(eta_seconds(0, 10, 15), 0);
  EXPECT_EQ(batches_left(3, 4, 4, 10), 5);
  EXPECT_EQ(batches_left(0, 1, 9, 10), 0);
}
