// The Trainer's data-parallel seam with a scripted group (no MPI, one
// process): what the loop asks of the group and when, and what it does with
// the answers: every batch is stepped on the group's shard and combined,
// buffers are synchronised before each validation, a stop wished by the
// group stops after that batch, and a lost rank (CommunicationError) leaves
// the run interrupted in the store with its last checkpoint intact.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "core/data/loader.h"
#include "core/store/store.h"
#include "core/train/communication_error.h"
#include "core/train/data_parallel_group.h"
#include "core/train/train_step.h"
#include "core/train/trainer.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using namespace perceptra;
using namespace std::chrono_literals;

namespace {

// Rank 0 of 2: keeps the first half of every batch; the other rank is
// pretended to have the same loss and correct share.
class ScriptedGroup final : public DataParallelGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  Batch shard(const Batch& g) override {
    const int64_t n = g.labels.numel(), half = (n + 1) / 2;
    Batch b;
    b.images = g.images.slice(0, half);
    b.labels = g.labels.slice(0, half);
    shard_rows += half;
    global_rows += n;
    return b;
  }
  bool combine_step(Model&, StepResult& s, bool has_gradients, int64_t global, bool stop) override {
    ++combines;
    if (combines == throw_at) throw CommunicationError("MPI allreduce on rank 0 of 2: no answer (scripted)");
    EXPECT_TRUE(has_gradients);
    EXPECT_FALSE(stop);
    s.correct = s.correct * global / std::max<int64_t>(1, s.samples);
    s.samples = global;
    return combines == stop_at;
  }
  void synchronize_buffers(Model&) override { ++syncs; }
  std::string describe(Model&) const override { return "data-parallel: scripted"; }

  int combines = 0, syncs = 0, throw_at = -1, stop_at = -1;
  int64_t shard_rows = 0, global_rows = 0;
};

struct Env {
  std::string dir, data;
  Env() {
    dir = test::make_temp_dir("disttrainer");
    data = test::make_tiny_dataset(dir + "/data");  // 96 training images
  }
  ~Env() { fs::remove_all(dir); }
  TrainConfig config(int epochs) const {
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

TrainEnd run(Trainer& t, std::vector<std::string>* logs = nullptr) {
  t.start();
  while (true) {
    auto e = t.events().wait_pop(30000ms);
    if (!e) {
      ADD_FAILURE() << "no event within 30 s";
      return {};
    }
    if (auto* l = std::get_if<LogMessage>(&*e); l && logs) logs->push_back(l->text);
    if (auto* end = std::get_if<TrainEnd>(&*e)) return *end;
  }
}

}  // namespace

TEST(DistTrainer, StepsOnShardsCombinesEveryBatchAndSyncsBeforeValidation) {
  Env env;
  auto group = std::make_shared<ScriptedGroup>();
  Trainer t(prepare_run(env.config(2)));
  t.set_data_parallel(group);
  std::vector<std::string> logs;
  TrainEnd end = run(t, &logs);
  EXPECT_EQ(end.reason, EndReason::Done) << end.message;
  const int batches = 2 * 6;  // 96 images / 16, two epochs
  EXPECT_EQ(group->combines, batches);
  EXPECT_EQ(group->global_rows, 2 * 96);
  EXPECT_EQ(group->shard_rows, 2 * 48);
  EXPECT_EQ(group->syncs, 2) << "once before each validation";
  EXPECT_NE(std::find(logs.begin(), logs.end(), "data-parallel: scripted"), logs.end());
  EXPECT_THROW(t.start_lr_find(), Error);
}

TEST(DistTrainer, AStopWishedByAnyRankStopsAfterThatBatch) {
  Env env;
  auto group = std::make_shared<ScriptedGroup>();
  group->stop_at = 8;  // the second batch of epoch 2
  auto prepared = prepare_run(env.config(3));
  Trainer t(prepared);
  t.set_data_parallel(group);
  TrainEnd end = run(t);
  EXPECT_EQ(end.reason, EndReason::Stopped);
  EXPECT_EQ(end.steps, 8);
  EXPECT_EQ(group->combines, 8);
  ExperimentStore st(env.dir + "/p.db");
  EXPECT_EQ(st.run(prepared->run_id).status, RunStatus::Stopped);
}

TEST(DistTrainer, ALostRankLeavesTheRunInterruptedWithItsCheckpoint) {
  Env env;
  auto group = std::make_shared<ScriptedGroup>();
  group->throw_at = 9;  // in epoch 2, after epoch 1's checkpoint
  auto prepared = prepare_run(env.config(3));
  Trainer t(prepared);
  t.set_data_parallel(group);
  TrainEnd end = run(t);
  EXPECT_EQ(end.reason, EndReason::Error);
  EXPECT_TRUE(end.interrupted);
  EXPECT_NE(end.message.find("no answer"), std::string::npos) << end.message;
  ExperimentStore st(env.dir + "/p.db");
  RunRecord r = st.run(prepared->run_id);
  EXPECT_EQ(r.status, RunStatus::Interrupted) << "resumable, not failed";
  auto ck = st.latest_artifact(prepared->run_id, "checkpoint");
  ASSERT_TRUE(ck.has_value());
  EXPECT_TRUE(st.verify_artifact(*ck));
  // It resumes (here as one process).
  auto again = Trainer::from_run(prepared->run_id, env.dir + "/p.db");
  TrainEnd e2 = run(*again);
  EXPECT_EQ(e2.reason, EndReason::Done) << e2.message;
  EXPECT_EQ(e2.epochs_completed, 3);
}
