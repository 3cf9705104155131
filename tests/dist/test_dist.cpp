// Data-parallel pieces that need no second process: shard ranges, the
// single-process communicator, gradient weighting, the step combination,
// and what a build without MPI (or a process without a launcher) says.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "core/data/loader.h"
#include "core/dist/communicator.h"
#include "core/dist/data_parallel.h"
#include "core/dist/nccl_communicator.h"
#include "core/nn/layer.h"
#include "core/nn/model.h"
#include "core/tensor/random.h"
#include "core/tensor/error.h"
#include "core/train/train_step.h"

using namespace perceptra;

TEST(Dist, ShardsCoverTheBatchContiguouslyAndEvenly) {
  for (int ranks : {1, 2, 3, 4, 7})
    for (int64_t global : {1, 2, 5, 16, 31, 128}) {
      int64_t next = 0, lo = global, hi = 0;
      for (int r = 0; r < ranks; ++r) {
        ShardRange s = shard_of(global, r, ranks);
        EXPECT_EQ(s.begin, next) << global << " " << r << "/" << ranks;
        next += s.count;
        lo = std::min(lo, s.count);
        hi = std::max(hi, s.count);
      }
      EXPECT_EQ(next, global);
      EXPECT_LE(hi - lo, 1);
    }
  EXPECT_EQ(shard_of(16, 1, 2).begin, 8);
  EXPECT_EQ(shard_of(16, 1, 2).count, 8);
}

TEST(Dist, LocalCommunicatorIsTheIdentityAndCountsBytes) {
  auto c = local_communicator();
  EXPECT_EQ(c->rank(), 0);
  EXPECT_EQ(c->size(), 1);
  float f[3] = {1, 2, 3};
  c->allreduce_sum(f, 3);
  EXPECT_EQ(f[2], 3);
  EXPECT_EQ(c->bytes_communicated(), 12u);
  DataParallel dp(c);
  EXPECT_TRUE(dp.is_root());
  EXPECT_EQ(dp.broadcast_string("cfg"), "cfg");
  EXPECT_TRUE(dp.all_ok(true));
  EXPECT_FALSE(dp.all_ok(false));
}

TEST(Dist, GradientsAreWeightedByShareOfTheGlobalBatch) {
  Parameter w, b, buf;
  w.value = Tensor::zeros(Shape{2, 2});
  w.grad = Tensor::from_vector(Shape{2, 2}, {1, 2, 3, 4});
  b.value = Tensor::zeros(Shape{2});
  b.grad = Tensor::from_vector(Shape{2}, {10, 20});
  buf.value = Tensor::from_vector(Shape{2}, {5, 6});
  buf.trainable = false;
  DataParallel dp(local_communicator());
  std::vector<Parameter*> ps = {&w, &buf, &b};
  EXPECT_EQ(dp.gradient_bytes(ps), 6u * 4u);
  dp.average_gradients(ps, 8, 8);  // one rank holding the whole batch: unchanged
  EXPECT_EQ(w.grad.to_vector(), (std::vector<float>{1, 2, 3, 4}));
  dp.average_gradients(ps, 2, 8);  // a quarter of the batch: a quarter of the weight
  EXPECT_EQ(w.grad.to_vector(), (std::vector<float>{0.25f, 0.5f, 0.75f, 1}));
  EXPECT_EQ(b.grad.to_vector(), (std::vector<float>{2.5f, 5}));
  EXPECT_EQ(buf.value.to_vector(), (std::vector<float>{5, 6}));  // buffers have no gradient
}

TEST(Dist, ShardOfABatchIsItsRowsAndMayBeEmpty) {
  Batch g;
  g.images = Tensor::from_vector(Shape{3, 1, 1, 2}, {0, 1, 2, 3, 4, 5});
  g.labels = Tensor::from_vector(Shape{3}, {7, 8, 9});
  g.indices = {10, 11, 12};
  DataParallel dp(local_communicator());
  Batch s = dp.shard(g);
  EXPECT_EQ(s.labels.to_vector(), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(shard_of(1, 0, 2).count, 0);  // rank 0 of 2 gets nothing of a 1-row batch
  EXPECT_EQ(shard_of(1, 1, 2).count, 1);
}

TEST(Dist, CombineStepGivesTheGroupsLossAndStopsOnANonFiniteLoss) {
  DataParallel dp(local_communicator());
  Rng rng(1);
  auto model =
      Model::from_spec({{"input", {4}}, {"classes", 2}, {"layers", {{{"type", "linear"}, {"out_features", 2}}}}}, rng);
  for (Parameter* p : model->parameters()) p->grad.fill(0.5f);
  StepResult s;
  s.loss = 1.25;
  s.samples = 4;
  s.correct = 3;
  EXPECT_FALSE(dp.combine_step(*model, s, true, 4, false));
  EXPECT_DOUBLE_EQ(s.loss, 1.25);
  EXPECT_EQ(s.correct, 3);
  EXPECT_EQ(s.samples, 4);
  for (Parameter* p : model->parameters()) EXPECT_EQ(p->grad.to_vector()[0], 0.5f);
  // This rank's loss was not finite: the global loss is NaN (every rank's
  // NaN guard then stops alike) and the stop wish is passed on.
  StepResult bad;
  bad.loss = std::nan("");
  bad.samples = 4;
  EXPECT_TRUE(dp.combine_step(*model, bad, false, 4, true));
  EXPECT_FALSE(std::isfinite(bad.loss));
}

TEST(Dist, BuildsAndProcessesSayWhatIsAvailable) {
  if (!mpi_compiled()) {
    try {
      mpi_world();
      FAIL() << "mpi_world() without MPI";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--distributed is unavailable"), std::string::npos);
    }
  }
  if (!launched_by_mpi()) {
    std::string device = "cpu";
    try {
      make_data_parallel(device);
      FAIL() << "make_data_parallel outside a launcher";
    } catch (const Error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find("mpirun") != std::string::npos || what.find("unavailable") != std::string::npos) << what;
    }
  }
  if (!nccl_compiled()) {
    EXPECT_THROW(nccl_communicator(local_communicator(), 0), Error);
  }
}

TEST(Dist, CollectiveTimeoutComesFromTheEnvironment) {
  ::setenv("PERCEPTRA_DIST_TIMEOUT", "2.5", 1);
  EXPECT_DOUBLE_EQ(collective_timeout_seconds(), 2.5);
  ::setenv("PERCEPTRA_DIST_TIMEOUT", "soon", 1);
  EXPECT_THROW(collective_timeout_seconds(), Error);
  ::unsetenv("PERCEPTRA_DIST_TIMEOUT");
  EXPECT_DOUBLE_EQ(collective_timeout_seconds(), 300);
}
