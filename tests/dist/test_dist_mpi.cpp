// Collectives across real processes: run under `mpirun -np 2` (ctest does,
// with PERCEPTRA_DIST_TIMEOUT=3). The allreduce is checked against a naive
// sum of every rank's data, the weighted gradient average against the mean
// over the whole global batch, and a collective one rank does not join
// against the timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "core/dist/communicator.h"
#include "core/dist/data_parallel.h"
#include "core/nn/layer.h"
#include "core/tensor/random.h"

using namespace perceptra;

namespace {
std::vector<float> rank_data(int rank, size_t n) {
  Rng r(1000 + uint64_t(rank));
  std::vector<float> v(n);
  for (auto& x : v) x = r.uniform(-1.f, 1.f);
  return v;
}
}  // namespace

TEST(DistMpi, WorldHasSeveralRanks) {
  auto w = mpi_world();
  EXPECT_EQ(w->backend(), "mpi");
  EXPECT_GE(w->size(), 2) << "run me under mpirun -np 2";
  EXPECT_TRUE(launched_by_mpi());
}

TEST(DistMpi, AllreduceMatchesNaiveSum) {
  auto w = mpi_world();
  for (size_t n : {size_t(1), size_t(1000), size_t(1) << 20}) {
    std::vector<float> mine = rank_data(w->rank(), n);
    std::vector<double> naive(n, 0.0);
    for (int r = 0; r < w->size(); ++r) {
      auto v = rank_data(r, n);
      for (size_t i = 0; i < n; ++i) naive[i] += v[i];
    }
    uint64_t before = w->bytes_communicated();
    w->allreduce_sum(mine.data(), n);
    EXPECT_EQ(w->bytes_communicated() - before, n * sizeof(float));
    double worst = 0;
    for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(double(mine[i]) - naive[i]));
    EXPECT_LT(worst, 1e-6 * w->size()) << "n=" << n;
  }
  std::vector<double> d = {double(w->rank()) + 0.25, 1.0};
  w->allreduce_sum(d.data(), d.size());
  double ranks = w->size();
  EXPECT_DOUBLE_EQ(d[0], ranks * (ranks - 1) / 2 + 0.25 * ranks);
  EXPECT_DOUBLE_EQ(d[1], ranks);
}

TEST(DistMpi, BroadcastFromRootAndAgreement) {
  auto w = mpi_world();
  DataParallel dp(w);
  std::string s = dp.broadcast_string(dp.is_root() ? std::string(100000, 'x') + "end" : "ignored");
  EXPECT_EQ(s.size(), 100003u);
  EXPECT_EQ(s.substr(s.size() - 3), "end");
  Parameter p;
  p.value = Tensor::from_vector(Shape{3}, {float(w->rank()), 1, 2});
  dp.broadcast_parameters({&p});
  EXPECT_EQ(p.value.to_vector(), (std::vector<float>{0, 1, 2}));
  EXPECT_TRUE(dp.all_ok(true));
  EXPECT_FALSE(dp.all_ok(w->rank() != 1));  // one rank failing: every rank learns it
  // Buffers (BatchNorm running statistics) become the ranks' mean.
  Parameter buf;
  buf.value = Tensor::from_vector(Shape{2}, {float(w->rank()), 4});
  buf.trainable = false;
  dp.average_buffers({&buf});
  EXPECT_FLOAT_EQ(buf.value.to_vector()[0], float(w->size() - 1) / 2.f);
  EXPECT_FLOAT_EQ(buf.value.to_vector()[1], 4.f);
}

// The gradient of a sum-of-squares loss is linear in the samples, so the
// weighted average of per-shard mean gradients must equal the global mean,
// also for uneven shards (7 rows over the ranks).
TEST(DistMpi, AveragedGradientsEqualTheGlobalBatchMean) {
  auto w = mpi_world();
  DataParallel dp(w);
  const int64_t global = 7;
  std::vector<float> samples = rank_data(99, size_t(global) * 4);  // the same on every rank
  ShardRange s = shard_of(global, w->rank(), w->size());
  std::vector<float> mean(4, 0.f), global_mean(4, 0.f);
  for (int64_t k = 0; k < global; ++k)
    for (int j = 0; j < 4; ++j) {
      float v = samples[size_t(k * 4 + j)];
      global_mean[size_t(j)] += v / float(global);
      if (k >= s.begin && k < s.begin + s.count) mean[size_t(j)] += v / float(s.count);
    }
  Parameter p;
  p.value = Tensor::zeros(Shape{4});
  p.grad = Tensor::from_vector(Shape{4}, mean);
  dp.average_gradients({&p}, s.count, global);
  auto g = p.grad.to_vector();
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(g[size_t(j)], global_mean[size_t(j)], 1e-6);
}

// Rank 1 joins the collective 6 s late; rank 0, with a 3 s timeout, gets a
// CommunicationError naming the problem instead of waiting. Rank 1's late
// call then completes the pending operation, so the job ends normally.
TEST(DistMpi, ACollectiveARankDoesNotJoinTimesOutClearly) {
  auto w = mpi_world();
  ASSERT_DOUBLE_EQ(collective_timeout_seconds(), 3) << "ctest sets PERCEPTRA_DIST_TIMEOUT=3";
  static double v[1] = {1};  // outlives the pending operation
  if (w->rank() == 0) {
    auto t0 = std::chrono::steady_clock::now();
    try {
      w->allreduce_sum(v, 1);
      ADD_FAILURE() << "the allreduce returned although rank 1 had not joined";
    } catch (const CommunicationError& e) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      EXPECT_GE(s, 2.9);
      EXPECT_LT(s, 5.5);
      EXPECT_NE(std::string(e.what()).find("no answer from the other ranks"), std::string::npos) << e.what();
    }
  } else {
    std::this_thread::sleep_for(std::chrono::seconds(6));
    if (w->rank() == 1) {
      try {
        w->allreduce_sum(v, 1);  // completes rank 0's abandoned operation
      } catch (const CommunicationError&) {}
    }
  }
}
