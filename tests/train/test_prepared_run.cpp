// prepare_run: the data is opened and split once, and the Trainer (and any
// viewer) use that very object; a given opened source is reused when it
// fits; the input shape of a model file (--from) decides how image folders
// decode; the run recorder is the only store writer and exists only for
// recorded runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/data/resolve.h"
#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/store/store.h"
#include "core/train/run_recorder.h"
#include "core/train/trainer.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using namespace perceptra;
using namespace std::chrono_literals;

namespace {

struct Env {
  std::string dir, data;
  explicit Env(const std::string& tag) {
    dir = test::make_temp_dir(tag);
    data = test::make_tiny_dataset(dir + "/data");
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

// Records what the trainer's callbacks see.
struct Seen : Callback {
  const PreparedData* data = nullptr;
  const Model* model = nullptr;
  void on_train_begin(TrainContext& ctx, const TrainBegin&) override {
    data = &ctx.data();
    model = &ctx.model();
  }
};

TrainEnd train(Trainer& t) {
  t.start();
  while (auto e = t.events().wait_pop(20000ms))
    if (auto* end = std::get_if<TrainEnd>(&*e)) {
      t.wait();
      return *end;
    }
  ADD_FAILURE() << "no TrainEnd within 20 s";
  return {};
}

// A 3-class model file whose input is 1x10x10 (the tiny data is 12x12).
std::string write_model_10x10(const std::string& path) {
  nlohmann::json spec = test::tiny_mlp_spec();
  spec["input"] = {1, 10, 10};
  spec["classes"] = 3;
  Rng rng(3);
  auto m = Model::from_spec(spec, rng);
  ModelMeta meta;
  meta.class_names = {"class_a", "class_b", "class_c"};
  save_model(path, *m, meta);
  return path;
}

}  // namespace

TEST(PreparedRun, TrainerTrainsTheSplitObjectItWasGiven) {
  Env env("prep-same");
  auto run = prepare_run(env.config());
  ASSERT_TRUE(run->data && run->model && run->optimizer && run->recorder);
  EXPECT_GT(run->run_id, 0);
  EXPECT_TRUE(fs::is_directory(run->run_dir));
  {
    ExperimentStore st(env.dir + "/p.db");  // the row exists from preparation on
    EXPECT_EQ(st.run(run->run_id).status, RunStatus::Running);
  }
  const PreparedData* split = run->data.get();
  Trainer t(run);
  auto seen = std::make_shared<Seen>();
  t.add_callback(seen);
  EXPECT_EQ(t.run().get(), run.get());
  TrainEnd end = train(t);
  ASSERT_EQ(end.reason, EndReason::Done) << end.message;
  EXPECT_EQ(seen->data, split);  // the same object, not an equal one
  EXPECT_EQ(seen->model, run->model.get());
  EXPECT_EQ(end.run_id, run->run_id);
  ExperimentStore st(env.dir + "/p.db");
  EXPECT_EQ(st.run(run->run_id).status, RunStatus::Finished);
}

TEST(PreparedRun, OpenedSourceIsSplitNotOpenedAgain) {
  Env env("prep-source");
  auto opened = std::make_shared<const DataSource>(open_dataset(env.data));
  PrepareOptions po;
  po.source = opened;
  auto run = prepare_run(env.config(), po);
  EXPECT_EQ(run->data->source.train.get(), opened->train.get());
  // Without it the data is opened anew (another dataset object, equal split).
  TrainConfig c = env.config();
  c.db_path = "-";
  auto other = prepare_run(c);
  EXPECT_NE(other->data->source.train.get(), opened->train.get());
  EXPECT_EQ(other->data->tv.valid_indices, run->data->tv.valid_indices);
}

// --from: image folders decode to the model file's input; the trainer trains
// exactly the split that preparation made (what the studio's Inspect shows).
TEST(PreparedRun, FromModelFileDecodesToItsInputAndTrainsThatSplit) {
  Env env("prep-from");
  TrainConfig c = env.config();
  c.from_model = write_model_10x10(env.dir + "/m10.pmodel");
  auto opened = std::make_shared<const DataSource>(open_dataset(env.data));  // 12x12
  PrepareOptions po;
  po.source = opened;
  auto run = prepare_run(c, po);
  EXPECT_EQ(run->data->tv.valid_data->sample_shape(), Shape({1, 10, 10}));
  EXPECT_NE(run->data->source.train.get(), opened->train.get());  // 12x12 does not fit
  EXPECT_GE(run->head_index, 0);
  const PreparedData* split = run->data.get();
  Trainer t(run);
  auto seen = std::make_shared<Seen>();
  t.add_callback(seen);
  TrainEnd end = train(t);
  ASSERT_EQ(end.reason, EndReason::Done) << end.message;
  EXPECT_EQ(seen->data, split);
  EXPECT_EQ(load_model(end.model_path).model->input_shape(), Shape({1, 10, 10}));
}

TEST(PreparedRun, NoStoreMeansNoRecorderAndRangeTestsWriteNothing) {
  Env env("prep-norec");
  TrainConfig c = env.config();
  c.db_path = "-";
  auto run = prepare_run(c);
  EXPECT_FALSE(run->recorder);
  EXPECT_EQ(run->run_id, 0);
  EXPECT_FALSE(fs::exists(env.dir + "/-"));
  PrepareOptions po;
  po.record = false;
  auto probe = prepare_run(env.config(), po);
  EXPECT_FALSE(probe->recorder);
  EXPECT_TRUE(probe->run_dir.empty());
  EXPECT_FALSE(fs::exists(env.dir + "/p.db"));
  // A recorded run cannot be a range test.
  Trainer t(prepare_run(env.config()));
  EXPECT_THROW(t.start_lr_find(), Error);
}

// A failure after the run row exists marks the run failed (nothing is left
// "running").
TEST(PreparedRun, FailureAfterTheRowMarksTheRunFailed) {
  Env env("prep-fail");
  TrainConfig c = env.config();
  c.out_dir = env.dir + "/not-a-folder";
  std::ofstream(c.out_dir) << "a file where the runs folder should be";
  EXPECT_ANY_THROW(prepare_run(c));
  ExperimentStore st(c.db_path);
  auto runs = st.list_runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].run.status, RunStatus::Failed);
}

// Resume: the checkpoint's input and position, the recorded folder, the
// same run row.
TEST(PreparedRun, ResumeContinuesTheRecordedRun) {
  Env env("prep-resume");
  Trainer a(env.config(2));
  struct StopAfterOne : Callback {
    void on_epoch_end(TrainContext& ctx, const EpochEnd&) override { ctx.request_stop(EndReason::Stopped, "test"); }
  };
  a.add_callback(std::make_shared<StopAfterOne>());
  TrainEnd first = train(a);
  ASSERT_EQ(first.reason, EndReason::Stopped) << first.message;
  auto q = resume_request(first.run_id, env.dir + "/p.db");
  auto run = prepare_resume(q);
  EXPECT_TRUE(run->resumed);
  EXPECT_EQ(run->run_id, first.run_id);
  EXPECT_EQ(run->position.epoch, 1);
  EXPECT_EQ(run->run_dir, fs::path(first.checkpoint_path).parent_path().string());
  Trainer b(run);
  TrainEnd end = train(b);
  EXPECT_EQ(end.reason, EndReason::Done) << end.message;
  EXPECT_EQ(end.epochs_completed, 2);
}

// A resume that cannot start (its data moved away) leaves the run as it was:
// same status and end time, same configuration, the reason in its message;
// it can be resumed once the data is back.
TEST(PreparedRun, FailedResumeRestoresTheRunAsItWas) {
  Env env("prep-resume-fail");
  Trainer a(env.config(2));
  struct StopAfterOne : Callback {
    void on_epoch_end(TrainContext& ctx, const EpochEnd&) override { ctx.request_stop(EndReason::Stopped, "test"); }
  };
  a.add_callback(std::make_shared<StopAfterOne>());
  TrainEnd first = train(a);
  ASSERT_EQ(first.reason, EndReason::Stopped) << first.message;
  const std::string db = env.dir + "/p.db";
  RunRecord before = ExperimentStore(db).run(first.run_id);

  fs::rename(env.data, env.data + "-moved");
  ResumeOptions more;
  more.epochs = 5;
  auto q = resume_request(first.run_id, db, more);
  EXPECT_ANY_THROW(prepare_resume(q));
  RunRecord after = ExperimentStore(db).run(first.run_id);
  EXPECT_EQ(after.status, RunStatus::Stopped);
  EXPECT_DOUBLE_EQ(after.ended_at, before.ended_at);
  EXPECT_EQ(after.hparams, before.hparams);
  EXPECT_NE(after.status_message.find("resume failed"), std::string::npos) << after.status_message;

  fs::rename(env.data + "-moved", env.data);
  Trainer b(prepare_resume(resume_request(first.run_id, db)));
  TrainEnd end = train(b);
  EXPECT_EQ(end.reason, EndReason::Done) << end.message;
}
