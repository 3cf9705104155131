// Trainer: events, stop/pause/resume, resume-equals-uninterrupted, NaN
// guard, callbacks, early stopping, notification, transfer learning, LR
// finder, snapshots. Runs on a tiny generated dataset.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/backend/backend.h"
#include "core/io/checkpoint.h"
#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/store/store.h"
#include "core/train/builtin_callbacks.h"
#include "core/train/metrics.h"
#include "core/train/trainer.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using namespace perceptra;
using namespace std::chrono_literals;

namespace {

struct Env {
  std::string dir, data;
  Env(const std::string& tag) {
    dir = test::make_temp_dir(tag);
    data = test::make_tiny_dataset(dir + "/data");
  }
  ~Env() { fs::remove_all(dir); }
  TrainConfig config(int epochs = 2) const {
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

std::vector<TrainEvent> drain(Trainer& t) {
  std::vector<TrainEvent> out;
  while (true) {
    auto e = t.events().wait_pop(20000ms);
    if (!e) {
      ADD_FAILURE() << "no event within 20 s";
      break;
    }
    out.push_back(*e);
    if (std::holds_alternative<TrainEnd>(*e)) break;
  }
  t.wait();
  return out;
}

template <typename T>
std::vector<T> only(const std::vector<TrainEvent>& ev) {
  std::vector<T> out;
  for (auto& e : ev)
    if (auto* p = std::get_if<T>(&e)) out.push_back(*p);
  return out;
}

const TrainEnd& end_of(const std::vector<TrainEvent>& ev) { return std::get<TrainEnd>(ev.back()); }

// Calls a function from a hook (on the trainer thread).
struct Hook : Callback {
  std::function<void(TrainContext&, const BatchEnd&)> batch;
  std::function<void(TrainContext&, const EpochBegin&)> epoch_begin;
  std::function<void(TrainContext&, const EpochEnd&)> epoch_end;
  std::vector<std::string> calls;
  void on_train_begin(TrainContext&, const TrainBegin&) override { calls.push_back("train_begin"); }
  void on_epoch_begin(TrainContext& c, const EpochBegin& e) override {
    calls.push_back("epoch_begin");
    if (epoch_begin) epoch_begin(c, e);
  }
  void on_batch_end(TrainContext& c, const BatchEnd& b) override {
    calls.push_back("batch_end");
    if (batch) batch(c, b);
  }
  void on_epoch_end(TrainContext& c, const EpochEnd& e) override {
    calls.push_back("epoch_end");
    if (epoch_end) epoch_end(c, e);
  }
  void on_train_end(TrainContext&, TrainEnd&) override { calls.push_back("train_end"); }
};

}  // namespace

TEST(TrainConfig, JsonRoundTripAndFieldErrors) {
  TrainConfig c;
  c.data = "fashion-mnist";
  c.valid_pct = 10;
  c.epochs = 3;
  c.optimizer.kind = "adamw";
  c.schedule.kind = "cosine";
  c.augment = parse_augment("flip,crop=2");
  c.notify.command = "echo hi";
  TrainConfig d = TrainConfig::from_json(c.to_json());
  EXPECT_EQ(d.to_json(), c.to_json());
  EXPECT_TRUE(d.augment.hflip);
  EXPECT_EQ(d.augment.crop_padding, 2);

  auto msg = [](const nlohmann::json& j) {
    try {
      TrainConfig::from_json(j);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(msg({{"epochs", 0}}).find("'epochs'"), std::string::npos);
  EXPECT_NE(msg({{"batch_size", "x"}}).find("'batch_size'"), std::string::npos);
  EXPECT_NE(msg({{"bogus", 1}}).find("'bogus'"), std::string::npos);
  EXPECT_NE(msg({{"fit", "fast"}}).find("'fit'"), std::string::npos);
  EXPECT_NE(msg({{"optimizer", {{"lr", -1}}}}).find("'lr'"), std::string::npos);
  EXPECT_THROW(parse_augment("wobble"), InputError);
}

TEST(TrainConfig, PrecisionRoundTripsAndIsChecked) {
  TrainConfig c;
  EXPECT_EQ(c.precision, "f32");
  EXPECT_FALSE(c.to_json().contains("precision")) << "f32 configs read as before bf16 existed";
  c.precision = "bf16";
  EXPECT_EQ(TrainConfig::from_json(c.to_json()).precision, "bf16");
  try {
    TrainConfig::from_json({{"precision", "fp8"}});
    ADD_FAILURE() << "fp8 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'precision'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fp8"), std::string::npos) << e.what();
  }
}

// A bf16 run trains, like the f32 run of the same seed, and the next run
// at f32 computes at f32 again; a CPU without AVX-512 BF16 refuses the run
// with the reason.
TEST(Trainer, Bf16RunsTrainWhereTheCpuHasIt) {
  Env env("bf16");
  Backend& cpu = backend_for(Device::cpu());
  const std::string why = cpu.precision_unavailable(Precision::BF16);
  auto run = [&](const std::string& precision) {
    TrainConfig c = env.config(3);
    c.precision = precision;
    Trainer t(c);
    t.start();
    return drain(t);
  };
  if (!why.empty()) {
    auto ev = run("bf16");
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(end_of(ev).reason, EndReason::Error);
    EXPECT_NE(end_of(ev).message.find("precision"), std::string::npos) << end_of(ev).message;
    EXPECT_NE(end_of(ev).message.find(why), std::string::npos) << end_of(ev).message;
    GTEST_SKIP() << "bf16 not available here: " << why;
  }
  auto bf = run("bf16");
  ASSERT_EQ(end_of(bf).reason, EndReason::Done) << end_of(bf).message;
  EXPECT_EQ(cpu.precision(), Precision::BF16);
  auto fp = run("f32");
  ASSERT_EQ(end_of(fp).reason, EndReason::Done) << end_of(fp).message;
  EXPECT_EQ(cpu.precision(), Precision::F32);
  auto eb = only<EpochEnd>(bf), ef = only<EpochEnd>(fp);
  ASSERT_EQ(eb.size(), 3u);
  ASSERT_EQ(ef.size(), 3u);
  EXPECT_LT(eb[2].train_loss, eb[0].train_loss);
  EXPECT_GT(eb[2].valid_accuracy, 0.6);  // the patterns are easy
  // Same seed, same data: bf16 rounding moves the loss a little, not a lot,
  // and it does move it (the bf16 products really ran).
  EXPECT_NEAR(eb[2].train_loss, ef[2].train_loss, 0.05 + 0.1 * ef[2].train_loss);
  EXPECT_NE(eb[0].train_loss, ef[0].train_loss);
}

TEST(Metrics, ConfusionPrecisionRecallTopK) {
  ClassificationMetrics m(3, 2);
  // rows: scores for classes 0..2
  std::vector<float> s = {0.7f, 0.2f, 0.1f,   // true 0 -> 0
                          0.1f, 0.3f, 0.6f,   // true 1 -> 2 (1 is 2nd: top-2 hit)
                          0.2f, 0.1f, 0.7f,   // true 2 -> 2
                          0.5f, 0.4f, 0.1f};  // true 2 -> 0 (2 is 3rd: top-2 miss)
  std::vector<float> y = {0, 1, 2, 2};
  std::vector<float> l = {1, 2, 3, 4};
  m.add(s.data(), y.data(), l.data(), 4);
  EXPECT_DOUBLE_EQ(m.accuracy(), 0.5);
  EXPECT_DOUBLE_EQ(m.error_rate(), 0.5);
  EXPECT_DOUBLE_EQ(m.top_k_accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(m.mean_loss(), 2.5);
  auto cm = m.confusion();
  EXPECT_EQ(cm[2][0], 1);
  EXPECT_EQ(cm[1][2], 1);
  auto p = m.precision(), r = m.recall(), f = m.f1();
  EXPECT_DOUBLE_EQ(p[0], 0.5);  // predicted 0 twice, once right
  EXPECT_DOUBLE_EQ(p[1], 0.0);  // never predicted
  EXPECT_DOUBLE_EQ(r[2], 0.5);
  EXPECT_DOUBLE_EQ(f[2], 0.5);
}

TEST(EventQueue, OrderCapAndTimeout) {
  EventQueue q(3);
  q.push(TrainBegin{});
  for (int i = 0; i < 5; ++i) q.push(BatchEnd{0, 0, i});
  q.push(TrainEnd{});
  EXPECT_EQ(q.dropped(), 2u);
  auto all = q.pop_all();
  ASSERT_EQ(all.size(), 5u);
  EXPECT_TRUE(std::holds_alternative<TrainBegin>(all[0]));
  EXPECT_EQ(std::get<BatchEnd>(all[1]).step, 2);  // oldest batch events dropped
  EXPECT_TRUE(std::holds_alternative<TrainEnd>(all[4]));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(q.wait_pop(50ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);
  EXPECT_EQ(event_to_json(BatchEnd{}).at("event"), "batch_end");
}

TEST(Trainer, EventsInOrderStoreAndFiles) {
  Env env("events");
  Trainer t(env.config(2));
  auto hook = std::make_shared<Hook>();
  t.add_callback(hook);
  t.start();
  auto ev = drain(t);
  ASSERT_FALSE(ev.empty());
  const TrainEnd& end = end_of(ev);
  ASSERT_EQ(end.reason, EndReason::Done) << end.message;
  // Order: train_begin, then per epoch: epoch_begin, batch_end..., epoch_end.
  std::vector<std::string> names;
  for (auto& e : ev)
    if (!std::holds_alternative<LogMessage>(e) && !std::holds_alternative<Snapshot>(e)) names.push_back(event_name(e));
  ASSERT_GE(names.size(), 4u);
  EXPECT_EQ(names.front(), "train_begin");
  EXPECT_EQ(names.back(), "train_end");
  auto tb = only<TrainBegin>(ev).at(0);
  EXPECT_EQ(tb.class_names.size(), 3u);
  EXPECT_EQ(tb.train_size + tb.valid_size, 120);
  EXPECT_EQ(tb.valid_size, 24);  // 20 % default for image folders
  auto batches = only<BatchEnd>(ev);
  EXPECT_EQ(static_cast<int64_t>(batches.size()), 2 * tb.batches_per_epoch);
  for (size_t i = 0; i < batches.size(); ++i) EXPECT_EQ(batches[i].step, static_cast<int64_t>(i));
  size_t k = 1;
  for (int e = 0; e < 2; ++e) {
    EXPECT_EQ(names[k++], "epoch_begin");
    for (int64_t b = 0; b < tb.batches_per_epoch; ++b) EXPECT_EQ(names[k++], "batch_end");
    EXPECT_EQ(names[k++], "epoch_end");
  }
  auto epochs = only<EpochEnd>(ev);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_GT(epochs[1].valid_accuracy, 0.6);  // the patterns are easy
  EXPECT_LT(epochs[1].train_loss, epochs[0].train_loss);
  EXPECT_EQ(epochs[1].confusion.size(), 3u);
  EXPECT_EQ(epochs[1].precision.size(), 3u);
  // Callbacks saw the same sequence.
  EXPECT_EQ(hook->calls.front(), "train_begin");
  EXPECT_EQ(hook->calls.back(), "train_end");
  EXPECT_EQ(std::count(hook->calls.begin(), hook->calls.end(), "epoch_end"), 2);
  // Files and store.
  EXPECT_TRUE(fs::exists(end.model_path));
  EXPECT_TRUE(fs::exists(end.checkpoint_path));
  EXPECT_TRUE(fs::exists(end.best_model_path));
  LoadedModel lm = load_model(end.model_path);
  EXPECT_EQ(lm.meta.class_names, tb.class_names);
  EXPECT_EQ(lm.meta.mean.size(), 1u);
  ExperimentStore st(env.dir + "/p.db");
  RunSummary s = st.run_summary(end.run_id);
  EXPECT_EQ(s.run.status, RunStatus::Finished);
  EXPECT_NEAR(*s.best_valid_accuracy, std::max(epochs[0].valid_accuracy, epochs[1].valid_accuracy), 1e-9);
  EXPECT_EQ(st.metric_series(end.run_id, "train_loss").size(), batches.size());
  EXPECT_EQ(st.metric_series(end.run_id, "valid_loss").size(), 2u);
  EXPECT_TRUE(st.latest_artifact(end.run_id, "checkpoint"));
  EXPECT_TRUE(st.latest_artifact(end.run_id, "model"));
}

TEST(Trainer, StopTakesEffectWithinOneBatch) {
  Env env("stop");
  TrainConfig c = env.config(50);
  Trainer t(c);
  t.start();
  int64_t batches_after_stop = -1;
  std::vector<TrainEvent> ev;
  while (auto e = t.events().wait_pop(20000ms)) {
    ev.push_back(*e);
    if (std::holds_alternative<BatchEnd>(*e)) {
      if (batches_after_stop >= 0) ++batches_after_stop;
      if (std::get<BatchEnd>(*e).step == 3 && batches_after_stop < 0) {
        t.stop();
        batches_after_stop = 0;
      }
    }
    if (std::holds_alternative<TrainEnd>(*e)) break;
  }
  t.wait();
  ASSERT_TRUE(std::holds_alternative<TrainEnd>(ev.back()));
  EXPECT_EQ(end_of(ev).reason, EndReason::Stopped);
  // The consumer lags the trainer, so batches already done when stop() was
  // called still arrive; the run must end far before its 50 epochs.
  EXPECT_LE(batches_after_stop, end_of(ev).steps - 4);
  EXPECT_LT(end_of(ev).steps, 60);
  EXPECT_TRUE(fs::exists(end_of(ev).checkpoint_path));  // resumable
  ExperimentStore st(env.dir + "/p.db");
  EXPECT_EQ(st.run(end_of(ev).run_id).status, RunStatus::Stopped);
}

TEST(Trainer, StopIsHonouredBeforeTheNextBatch) {
  // Deterministic version: stop() from a hook at step 2 means no step 3.
  Env env("stop2");
  Trainer t(env.config(5));
  auto hook = std::make_shared<Hook>();
  hook->batch = [&](TrainContext&, const BatchEnd& b) {
    if (b.step == 2) t.stop();
  };
  t.add_callback(hook);
  t.start();
  auto ev = drain(t);
  auto batches = only<BatchEnd>(ev);
  ASSERT_FALSE(batches.empty());
  EXPECT_EQ(batches.back().step, 2);
  EXPECT_EQ(end_of(ev).reason, EndReason::Stopped);
}

TEST(Trainer, PauseBlocksBetweenBatchesAndResumeContinues) {
  Env env("pause");
  Trainer t(env.config(2));
  auto hook = std::make_shared<Hook>();
  hook->batch = [&](TrainContext&, const BatchEnd& b) {
    if (b.step == 1) t.pause();
  };
  t.add_callback(hook);
  t.start();
  // Wait until step 1 is reported, then check nothing more happens.
  int64_t last = -1;
  while (last < 1) {
    auto e = t.events().wait_pop(20000ms);
    ASSERT_TRUE(e);
    if (auto* b = std::get_if<BatchEnd>(&*e)) last = b->step;
    ASSERT_FALSE(std::holds_alternative<TrainEnd>(*e));
  }
  std::this_thread::sleep_for(400ms);
  EXPECT_TRUE(t.paused());
  for (auto& e : t.events().pop_all()) EXPECT_FALSE(std::holds_alternative<BatchEnd>(e));
  EXPECT_FALSE(t.finished());
  t.resume();
  auto ev = drain(t);
  EXPECT_EQ(end_of(ev).reason, EndReason::Done) << end_of(ev).message;
  EXPECT_FALSE(only<BatchEnd>(ev).empty());
  EXPECT_EQ(only<BatchEnd>(ev).front().step, 2);
}

TEST(Trainer, ResumedRunMatchesUninterruptedRun) {
  Env env("resume");
  TrainConfig c = env.config(3);
  c.optimizer.kind = "adam";
  c.optimizer.lr = 0.01f;
  c.schedule.kind = "cosine";
  c.augment = parse_augment("flip,crop=1");
  // Uninterrupted reference in its own store.
  TrainConfig ref_cfg = c;
  ref_cfg.db_path = env.dir + "/ref.db";
  ref_cfg.out_dir = env.dir + "/ref";
  Trainer ref(ref_cfg);
  ref.start();
  auto ref_ev = drain(ref);
  ASSERT_EQ(end_of(ref_ev).reason, EndReason::Done) << end_of(ref_ev).message;
  auto ref_batches = only<BatchEnd>(ref_ev);

  // Interrupted in the middle of epoch 2 (step 9 of 6 per epoch), then resumed.
  Trainer a(c);
  auto hook = std::make_shared<Hook>();
  hook->batch = [](TrainContext& ctx, const BatchEnd& b) {
    if (b.step == 8) ctx.request_stop(EndReason::Stopped, "test stop");
  };
  a.add_callback(hook);
  a.start();
  auto a_ev = drain(a);
  ASSERT_EQ(end_of(a_ev).reason, EndReason::Stopped);
  int64_t run = end_of(a_ev).run_id;
  auto b = Trainer::from_run(run, c.db_path);
  b->start();
  auto b_ev = drain(*b);
  ASSERT_EQ(end_of(b_ev).reason, EndReason::Done) << end_of(b_ev).message;
  EXPECT_TRUE(only<TrainBegin>(b_ev).at(0).resumed);
  EXPECT_EQ(end_of(b_ev).run_id, run);

  auto losses = only<BatchEnd>(a_ev);
  for (auto& x : only<BatchEnd>(b_ev)) losses.push_back(x);
  ASSERT_EQ(losses.size(), ref_batches.size());
  for (size_t i = 0; i < losses.size(); ++i) {
    EXPECT_EQ(losses[i].step, ref_batches[i].step);
    EXPECT_NEAR(losses[i].loss, ref_batches[i].loss, 1e-4 * (1 + std::abs(ref_batches[i].loss))) << "step " << i;
    EXPECT_NEAR(losses[i].lr, ref_batches[i].lr, 1e-9);
  }
  auto re = only<EpochEnd>(ref_ev), be = only<EpochEnd>(b_ev);
  ASSERT_EQ(be.size(), 2u);  // epochs 2 and 3 end in the resumed part
  EXPECT_NEAR(be.back().valid_loss, re.back().valid_loss, 1e-4);
  EXPECT_NEAR(be.front().train_loss, re[1].train_loss, 1e-4);  // partial-epoch sums carried over
  ExperimentStore st(c.db_path);
  EXPECT_EQ(st.run(run).status, RunStatus::Finished);
}

// Two databases (each numbering its runs from 1) sharing one output folder
// must not write into each other's run folders; a resumed run continues in
// the folder it was recorded in.
TEST(Trainer, RunsFromOtherDatabasesGetTheirOwnFolders) {
  Env env("runfolders");
  TrainConfig a_cfg = env.config(1);
  a_cfg.db_path = env.dir + "/a.db";
  Trainer a(a_cfg);
  a.start();
  auto a_ev = drain(a);
  ASSERT_EQ(end_of(a_ev).reason, EndReason::Done) << end_of(a_ev).message;
  ASSERT_EQ(end_of(a_ev).run_id, 1);
  const std::string a_model = end_of(a_ev).model_path;
  auto a_bytes = [&] {
    std::ifstream in(a_model, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const std::string before = a_bytes();
  ASSERT_FALSE(before.empty());

  // Run 1 of another database, stopped after its first epoch, then resumed.
  TrainConfig b_cfg = env.config(2);
  b_cfg.db_path = env.dir + "/b.db";
  b_cfg.seed = 99;
  Trainer b(b_cfg);
  auto hook = std::make_shared<Hook>();
  hook->epoch_end = [](TrainContext& ctx, const EpochEnd&) { ctx.request_stop(EndReason::Stopped, "test stop"); };
  b.add_callback(hook);
  b.start();
  auto b_ev = drain(b);
  ASSERT_EQ(end_of(b_ev).reason, EndReason::Stopped) << end_of(b_ev).message;
  ASSERT_EQ(end_of(b_ev).run_id, 1);
  const std::string b_dir = only<TrainBegin>(b_ev).at(0).run_dir;
  EXPECT_NE(b_dir, only<TrainBegin>(a_ev).at(0).run_dir);
  EXPECT_EQ(fs::path(b_dir).filename().string(), "run-1-2");
  EXPECT_EQ(a_bytes(), before) << "run 1 of b.db overwrote run 1 of a.db";

  // Resume from elsewhere with another --out in the stored config: the run
  // still continues in its recorded folder.
  {
    ExperimentStore st(b_cfg.db_path);
    nlohmann::json h = st.run(1).hparams;
    h["out_dir"] = env.dir + "/elsewhere";
    st.update_hparams(1, h);
  }
  auto r = Trainer::from_run(1, b_cfg.db_path);
  r->start();
  auto r_ev = drain(*r);
  ASSERT_EQ(end_of(r_ev).reason, EndReason::Done) << end_of(r_ev).message;
  EXPECT_EQ(only<TrainBegin>(r_ev).at(0).run_dir, b_dir);
  EXPECT_EQ(fs::path(end_of(r_ev).model_path).parent_path().string(), b_dir);
  EXPECT_FALSE(fs::exists(env.dir + "/elsewhere"));
  EXPECT_EQ(a_bytes(), before);
}

// Issue 18: resume took the recorded checkpoint's parent folder as the run's
// folder, so an edited artifact row (pointing at a copy of the checkpoint,
// checksum intact) made the resumed run write wherever the row said. Only a
// real folder named run-<id>[-k] is written into; anything else is refused
// with the path named, nothing is written there and the run stays resumable.
TEST(Trainer, ResumeRefusesAFolderTheDatabaseRowPointsElsewhere) {
  Env env("resumefolder");
  TrainConfig c = env.config(2);
  Trainer a(c);
  auto hook = std::make_shared<Hook>();
  hook->epoch_end = [](TrainContext& ctx, const EpochEnd&) { ctx.request_stop(EndReason::Stopped, "test stop"); };
  a.add_callback(hook);
  a.start();
  auto a_ev = drain(a);
  ASSERT_EQ(end_of(a_ev).reason, EndReason::Stopped) << end_of(a_ev).message;
  const int64_t run = end_of(a_ev).run_id;
  const std::string run_dir = only<TrainBegin>(a_ev).at(0).run_dir;
  ASSERT_TRUE(fs::exists(run_dir + "/last.ckpt"));

  auto point_checkpoint_at = [&](const std::string& dir) {
    fs::create_directories(dir);
    fs::copy_file(run_dir + "/last.ckpt", dir + "/last.ckpt", fs::copy_options::overwrite_existing);
    std::ofstream(env.dir + "/u.sql") << "UPDATE artifacts SET path = '" << dir
                                      << "/last.ckpt' WHERE kind = 'checkpoint';";
    ASSERT_EQ(std::system(("sqlite3 " + c.db_path + " < " + env.dir + "/u.sql").c_str()), 0);
  };
  const std::string victim = env.dir + "/victim";
  point_checkpoint_at(victim);
  auto r = Trainer::from_run(run, c.db_path);
  r->start();
  auto r_ev = drain(*r);
  EXPECT_EQ(end_of(r_ev).reason, EndReason::Error);
  EXPECT_NE(end_of(r_ev).message.find(victim), std::string::npos) << end_of(r_ev).message;
  EXPECT_NE(end_of(r_ev).message.find("run-" + std::to_string(run)), std::string::npos) << end_of(r_ev).message;
  EXPECT_EQ(std::distance(fs::directory_iterator(victim), fs::directory_iterator{}), 1);  // only the copy
  {
    ExperimentStore st(c.db_path);
    EXPECT_EQ(st.run(run).status, RunStatus::Stopped);  // as before: still resumable
  }

  // A symlink named like the run's folder is refused too.
  const std::string linked = env.dir + "/other/run-" + std::to_string(run);
  fs::create_directories(env.dir + "/other");
  fs::create_directory_symlink(victim, linked);
  point_checkpoint_at(victim);
  std::ofstream(env.dir + "/u.sql") << "UPDATE artifacts SET path = '" << linked
                                    << "/last.ckpt' WHERE kind = 'checkpoint';";
  ASSERT_EQ(std::system(("sqlite3 " + c.db_path + " < " + env.dir + "/u.sql").c_str()), 0);
  auto s = Trainer::from_run(run, c.db_path);
  s->start();
  auto s_ev = drain(*s);
  EXPECT_EQ(end_of(s_ev).reason, EndReason::Error);
  EXPECT_NE(end_of(s_ev).message.find("symlink"), std::string::npos) << end_of(s_ev).message;
  EXPECT_EQ(std::distance(fs::directory_iterator(victim), fs::directory_iterator{}), 1);

  // Pointed back at its own folder, the run resumes there.
  std::ofstream(env.dir + "/u.sql") << "UPDATE artifacts SET path = '" << run_dir
                                    << "/last.ckpt' WHERE kind = 'checkpoint';";
  ASSERT_EQ(std::system(("sqlite3 " + c.db_path + " < " + env.dir + "/u.sql").c_str()), 0);
  auto t = Trainer::from_run(run, c.db_path);
  t->start();
  auto t_ev = drain(*t);
  ASSERT_EQ(end_of(t_ev).reason, EndReason::Done) << end_of(t_ev).message;
  EXPECT_EQ(only<TrainBegin>(t_ev).at(0).run_dir, run_dir);
}

// Issue 18: memory running out on the trainer thread ended in
// std::terminate. An allocation failing mid-epoch (injected from a callback
// on the trainer thread; test_cli_hostile exhausts real memory under
// RLIMIT_DATA) ends the run with a clear error, records it failed with that
// message, keeps the last checkpoint, and the run resumes to the end.
TEST(Trainer, OutOfMemoryOnTheTrainerThreadIsAFailedResumableRun) {
  Env env("oom");
  TrainConfig c = env.config(3);
  Trainer a(c);
  auto hook = std::make_shared<Hook>();
  hook->batch = [](TrainContext& ctx, const BatchEnd& b) {
    if (ctx.epoch() == 1 && b.step == 9) throw std::bad_alloc();
  };
  a.add_callback(hook);
  a.start();
  auto a_ev = drain(a);
  const TrainEnd& end = end_of(a_ev);
  ASSERT_EQ(end.reason, EndReason::Error);
  EXPECT_NE(end.message.find("out of memory in epoch 2, step"), std::string::npos) << end.message;
  EXPECT_NE(end.message.find("can be resumed"), std::string::npos) << end.message;
  EXPECT_EQ(end.epochs_completed, 1);
  const int64_t run = end.run_id;
  {
    ExperimentStore st(c.db_path);
    EXPECT_EQ(st.run(run).status, RunStatus::Failed);
    EXPECT_NE(st.run(run).status_message.find("out of memory"), std::string::npos);
    ASSERT_TRUE(st.latest_artifact(run, "checkpoint").has_value());
  }
  auto b = Trainer::from_run(run, c.db_path);
  b->start();
  auto b_ev = drain(*b);
  ASSERT_EQ(end_of(b_ev).reason, EndReason::Done) << end_of(b_ev).message;
  EXPECT_EQ(only<EpochEnd>(b_ev).size(), 2u);  // epochs 2 and 3, from the epoch-1 checkpoint
  ExperimentStore st(c.db_path);
  EXPECT_EQ(st.run(run).status, RunStatus::Finished);
}

// An empty db_path falls back to $PERCEPTRA_DB; '-' there means no store,
// not a database file named '-'.
TEST(Trainer, DatabaseDashFromEnvironmentMeansNoStore) {
  Env env("dbdash");
  TrainConfig c = env.config(1);
  c.db_path = "";
  c.max_batches = 1;
  const char* old = std::getenv("PERCEPTRA_DB");
  std::string saved = old ? old : "";
  auto cwd = fs::current_path();
  setenv("PERCEPTRA_DB", "-", 1);
  fs::current_path(env.dir);
  Trainer t(c);
  t.start();
  auto ev = drain(t);
  fs::current_path(cwd);
  if (old)
    setenv("PERCEPTRA_DB", saved.c_str(), 1);
  else
    unsetenv("PERCEPTRA_DB");
  ASSERT_EQ(end_of(ev).reason, EndReason::Done) << end_of(ev).message;
  EXPECT_EQ(end_of(ev).run_id, 0);
  EXPECT_FALSE(fs::exists(env.dir + "/-"));
  EXPECT_TRUE(fs::exists(end_of(ev).model_path));
  EXPECT_THROW(Trainer::from_run(1, "-"), InputError);
}

TEST(Trainer, HugeLearningRateDiverges) {
  Env env("nan");
  TrainConfig c = env.config(3);
  c.optimizer.lr = 1e12f;
  c.optimizer.momentum = 0.f;
  Trainer t(c);
  t.start();
  auto ev = drain(t);
  const TrainEnd& end = end_of(ev);
  EXPECT_EQ(end.reason, EndReason::Diverged) << end.message;
  EXPECT_NE(end.message.find("learning rate"), std::string::npos);
  EXPECT_TRUE(end.model_path.empty());  // no NaN model written
  {
    ExperimentStore st(c.db_path);
    EXPECT_EQ(st.run(end.run_id).status, RunStatus::Diverged);
  }
  // Resumed with a sane LR (no good checkpoint: from the start) it finishes.
  ResumeOptions ro;
  ro.lr = 0.05f;
  auto again = Trainer::from_run(end.run_id, c.db_path, ro);
  again->start();
  auto ev2 = drain(*again);
  EXPECT_EQ(end_of(ev2).reason, EndReason::Done) << end_of(ev2).message;
  ExperimentStore st(c.db_path);
  EXPECT_EQ(st.run(end.run_id).status, RunStatus::Finished);
  EXPECT_FLOAT_EQ(st.run(end.run_id).hparams["optimizer"]["lr"].get<float>(), 0.05f);
}

TEST(Trainer, NanGuardKeepsLastGoodCheckpoint) {
  Env env("nan2");
  TrainConfig c = env.config(3);
  Trainer t(c);
  auto hook = std::make_shared<Hook>();
  hook->epoch_begin = [](TrainContext& ctx, const EpochBegin& e) {
    if (e.epoch != 1) return;
    // Poison the head's bias (a ReLU would swallow a NaN earlier): the
    // next loss is NaN.
    Parameter* p = ctx.model().parameters().back();
    std::vector<float> v = p->value.to_vector();
    for (float& x : v) x = NAN;
    p->value.copy_from(Tensor::from_vector(p->value.shape(), v));
  };
  t.add_callback(hook);
  t.start();
  auto ev = drain(t);
  const TrainEnd& end = end_of(ev);
  ASSERT_EQ(end.reason, EndReason::Diverged);
  EXPECT_EQ(end.epochs_completed, 1);
  ASSERT_TRUE(fs::exists(end.checkpoint_path));
  Checkpoint ck = load_checkpoint(end.checkpoint_path);
  EXPECT_EQ(ck.state.epoch, 1);
  for (auto& [name, w] : ck.weights)
    for (float x : w.to_vector()) ASSERT_TRUE(std::isfinite(x)) << name;
}

TEST(Trainer, EarlyStoppingEndsTheRun) {
  Env env("early");
  TrainConfig c = env.config(6);
  c.early_stopping.patience = 1;
  c.early_stopping.min_delta = 10.0;  // nothing counts as an improvement after epoch 1
  Trainer t(c);
  t.start();
  auto ev = drain(t);
  const TrainEnd& end = end_of(ev);
  EXPECT_EQ(end.reason, EndReason::Done);
  EXPECT_EQ(end.epochs_completed, 2);
  EXPECT_NE(end.message.find("early stopping"), std::string::npos);
}

TEST(Trainer, NotificationCommandGetsMetricsInItsEnvironment) {
  Env env("notify");
  TrainConfig c = env.config(1);
  std::string out = env.dir + "/notified.txt";
  c.notify.command = "sh -c 'env | grep ^PERCEPTRA_ > \"$0\"' " + out;
  Trainer t(c);
  t.start();
  auto ev = drain(t);
  ASSERT_EQ(end_of(ev).reason, EndReason::Done);
  std::ifstream in(out);
  ASSERT_TRUE(in) << "notify command did not run";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  EXPECT_NE(text.find("PERCEPTRA_STATUS=done"), std::string::npos) << text;
  EXPECT_NE(text.find("PERCEPTRA_RUN_ID=" + std::to_string(end_of(ev).run_id)), std::string::npos);
  EXPECT_NE(text.find("PERCEPTRA_VALID_ACCURACY="), std::string::npos);
  EXPECT_NE(text.find("PERCEPTRA_MODEL_PATH=" + end_of(ev).model_path), std::string::npos);
}

TEST(Notify, SplitCommandHasNoShellSemantics) {
  auto w = split_command("echo 'a b' \"c;d\" $HOME `x`");
  ASSERT_EQ(w.size(), 5u);
  EXPECT_EQ(w[1], "a b");
  EXPECT_EQ(w[2], "c;d");
  EXPECT_EQ(w[3], "$HOME");
  EXPECT_THROW(split_command("echo 'open"), InputError);
  std::string err;
  EXPECT_EQ(run_notify_command({"false"}, {}, 5000ms, &err), 1);
  EXPECT_EQ(run_notify_command({"/nonexistent/cmd"}, {}, 5000ms, &err), -1);
  EXPECT_FALSE(err.empty());
}

TEST(Trainer, TransferLearningReplacesHeadAndFreezesBody) {
  Env env("transfer");
  // Source: 3 classes.
  Trainer src(env.config(1));
  src.start();
  auto sev = drain(src);
  ASSERT_EQ(end_of(sev).reason, EndReason::Done) << end_of(sev).message;
  std::string src_model = end_of(sev).model_path;
  LoadedModel orig = load_model(src_model);
  // Target: 2 classes of different data.
  std::string data2 = test::make_tiny_dataset(env.dir + "/data2", 2, 30, 12, 99);
  TrainConfig c = env.config(2);
  c.data = data2;
  c.from_model = src_model;
  c.freeze_epochs = 1;
  Trainer t(c);
  auto hook = std::make_shared<Hook>();
  std::vector<std::vector<float>> body_after_epoch;
  std::vector<bool> frozen_flags;
  hook->epoch_begin = [&](TrainContext&, const EpochBegin& e) { frozen_flags.push_back(e.frozen); };
  hook->epoch_end = [&](TrainContext& ctx, const EpochEnd&) {
    body_after_epoch.push_back(ctx.model().parameters().front()->value.to_vector());
    if (body_after_epoch.size() == 1) {
      EXPECT_EQ(ctx.optimizer().groups().size(), 3u);
      EXPECT_NEAR(ctx.optimizer().groups()[0].lr_scale, 1.0 / c.lr_mult, 1e-7);
      EXPECT_FLOAT_EQ(ctx.optimizer().groups()[2].lr_scale, 1.f);
    }
  };
  t.add_callback(hook);
  t.start();
  auto ev = drain(t);
  ASSERT_EQ(end_of(ev).reason, EndReason::Done) << end_of(ev).message;
  EXPECT_EQ(only<TrainBegin>(ev).at(0).class_names.size(), 2u);
  ASSERT_EQ(frozen_flags, (std::vector<bool>{true, false}));
  ASSERT_EQ(body_after_epoch.size(), 2u);
  auto first = orig.model->parameters().front()->value.to_vector();
  EXPECT_EQ(body_after_epoch[0], first);  // frozen: untouched
  EXPECT_NE(body_after_epoch[1], first);  // unfrozen: trained
  LoadedModel out = load_model(end_of(ev).model_path);
  EXPECT_EQ(out.model->num_classes(), 2);
}

TEST(Trainer, LrFinderReportsCurveWithoutRecording) {
  Env env("lrfind");
  TrainConfig c = env.config(1);
  Trainer t(c);
  LrFinderConfig fc;
  fc.num_iters = 30;
  fc.start_lr = 1e-5;
  fc.end_lr = 10;
  t.start_lr_find(fc);
  auto ev = drain(t);
  EXPECT_EQ(end_of(ev).reason, EndReason::Done) << end_of(ev).message;
  auto r = only<LrFindEnd>(ev);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_GE(r[0].lrs.size(), 5u);
  EXPECT_GT(r[0].suggested_lr, 0);
  EXPECT_LT(r[0].lrs.front(), r[0].lrs.back());
  EXPECT_FALSE(fs::exists(c.db_path));
  EXPECT_FALSE(fs::exists(c.out_dir));
}

TEST(Trainer, SnapshotHookPublishesValueCopies) {
  Env env("snap");
  Trainer t(env.config(1));
  t.set_snapshot_hook("probe", 2, [](SnapshotContext& sc) -> std::any {
    Tensor x = Tensor::zeros(Shape({1, 1, 12, 12}));
    Tensor y = sc.model.forward(x, false);
    return std::make_shared<const std::vector<float>>(y.to_vector());
  });
  t.start();
  auto ev = drain(t);
  auto snaps = only<Snapshot>(ev);
  ASSERT_GE(snaps.size(), 3u);
  EXPECT_EQ(snaps[0].kind, "probe");
  auto v = std::any_cast<std::shared_ptr<const std::vector<float>>>(snaps[0].payload);
  EXPECT_EQ(v->size(), 3u);
}

TEST(Trainer, BadDataEndsWithErrorAndFailedRun) {
  Env env("baddata");
  TrainConfig c = env.config(1);
  c.data = env.dir + "/missing";
  Trainer t(c);
  t.start();
  auto ev = drain(t);
  EXPECT_EQ(end_of(ev).reason, EndReason::Error);
  EXPECT_NE(end_of(ev).message.find("missing"), std::string::npos);
}

TEST(Trainer, FitOneCycleDrivesLrAndMomentum) {
  Env env("onecycle");
  TrainConfig c = env.config(2);
  c.fit = "one-cycle";
  c.optimizer.lr = 0.1f;
  Trainer t(c);
  t.start();
  auto ev = drain(t);
  ASSERT_EQ(end_of(ev).reason, EndReason::Done) << end_of(ev).message;
  auto b = only<BatchEnd>(ev);
  ASSERT_GE(b.size(), 8u);
  EXPECT_NEAR(b.front().lr, 0.1 / 25, 1e-6);  // starts at max_lr / div_factor
  double peak = 0;
  for (auto& x : b) peak = std::max(peak, x.lr);
  EXPECT_GT(peak, 0.09);
  EXPECT_LT(b.back().lr, 0.01);                 // annealed at the end
  EXPECT_NEAR(b.front().momentum, 0.95, 1e-6);  // momentum cycles inversely
}

TEST(Trainer, AutoDeviceReportsFallbackOnce) {
  Env env("device");
  TrainConfig c = env.config(1);
  c.device = "auto";
  c.max_batches = 1;
  Trainer t(c);
  t.start();
  auto ev = drain(t);
  ASSERT_EQ(end_of(ev).reason, EndReason::Done) << end_of(ev).message;
  auto tb = only<TrainBegin>(ev).at(0);
  int notes = 0, warnings = 0;
  for (auto& m : only<LogMessage>(ev)) {
    bool about_cuda = m.text.find("CUDA") != std::string::npos;
    notes += about_cuda && m.level == "info" && m.text == tb.device_note;
    warnings += about_cuda && m.level == "warning";
  }
  EXPECT_EQ(warnings, 0);  // falling back as "auto" allows is not a warning
  CudaProbe probe = probe_cuda();
  if (!probe.compiled) {
    // No CUDA in this build: CPU is the normal device, nothing to explain.
    EXPECT_EQ(tb.device, "cpu");
    EXPECT_TRUE(tb.device_note.empty()) << tb.device_note;
    EXPECT_EQ(notes, 0);
  } else if (tb.device == "cpu") {
    EXPECT_NE(tb.device_note.find("CPU"), std::string::npos);
    EXPECT_EQ(notes, 1);
  }
  EXPECT_EQ(only<BatchEnd>(ev).size(), 1u);  // max_batches caps the epoch
}
