// Synchronised BatchNorm without mpirun: two ranks on threads of one
// process (thread_group) each normalise their shard of a batch with the
// global statistics, and their outputs, input gradients (in each rank's
// local-loss units) and weighted parameter gradients equal one BatchNorm on
// the whole batch. Unequal shards (3 and 4 rows) check the weighting.
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "core/dist/communicator.h"
#include "core/dist/data_parallel.h"
#include "core/nn/batchnorm.h"
#include "core/nn/model.h"
#include "core/tensor/random.h"

using namespace perceptra;

namespace {

struct GroupSync final : BatchNormSync {
  explicit GroupSync(std::shared_ptr<Communicator> c) : comm(std::move(c)) {}
  void allreduce_sum(double* d, size_t n) override { comm->allreduce_sum(d, n); }
  std::shared_ptr<Communicator> comm;
};

std::vector<float> random_vector(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.normal(0.5f, 2.f);
  return v;
}

// Rows [b, e) of an [N, ...] vector with `per` values a row.
std::vector<float> rows(const std::vector<float>& v, int64_t b, int64_t e, int64_t per) {
  return std::vector<float>(v.begin() + b * per, v.begin() + e * per);
}

void set_affine(BatchNorm& bn, int C) {
  auto p = bn.parameters();  // weight, bias, running_mean, running_var
  p[0]->value = Tensor::from_vector(Shape{C}, random_vector(size_t(C), 7));
  p[1]->value = Tensor::from_vector(Shape{C}, random_vector(size_t(C), 8));
}

double worst(const std::vector<float>& a, const std::vector<float>& b) {
  double w = 0;
  for (size_t i = 0; i < a.size(); ++i) w = std::max(w, std::abs(double(a[i]) - b[i]) / (1 + std::abs(double(b[i]))));
  return a.size() == b.size() ? w : 1e9;
}

struct RankOut {
  std::vector<float> y, dx, dgamma, dbeta, rmean, rvar;
};

}  // namespace

TEST(SyncBatchNorm, TwoRanksEqualOneProcessOnTheWholeBatch) {
  const int N = 7, C = 3, H = 4, W = 4, per = C * H * W;
  const auto x = random_vector(size_t(N) * per, 1), dy = random_vector(size_t(N) * per, 2);

  BatchNorm full(true, C);
  set_affine(full, C);
  std::vector<float> y_full = full.forward(Tensor::from_vector(Shape{N, C, H, W}, x), true).to_vector();
  std::vector<float> dx_full = full.backward(Tensor::from_vector(Shape{N, C, H, W}, dy)).to_vector();
  auto fp = full.parameters();
  const auto dgamma_full = fp[0]->grad.to_vector(), dbeta_full = fp[1]->grad.to_vector();

  for (bool synced : {true, false}) {
    auto group = thread_group(2);
    std::vector<RankOut> out(2);
    std::vector<std::thread> threads;
    for (int r = 0; r < 2; ++r)
      threads.emplace_back([&, r] {
        ShardRange s = shard_of(N, r, 2);
        BatchNorm bn(true, C);
        set_affine(bn, C);
        if (synced) bn.set_sync(std::make_shared<GroupSync>(group[size_t(r)]));
        const int n = int(s.count);
        out[size_t(r)].y =
            bn.forward(Tensor::from_vector(Shape{n, C, H, W}, rows(x, s.begin, s.begin + n, per)), true).to_vector();
        // This rank's loss is the mean over its rows: N / n times the global one's gradient.
        auto d = rows(dy, s.begin, s.begin + n, per);
        for (auto& v : d) v *= float(N) / float(n);
        out[size_t(r)].dx = bn.backward(Tensor::from_vector(Shape{n, C, H, W}, d)).to_vector();
        auto p = bn.parameters();
        out[size_t(r)].dgamma = p[0]->grad.to_vector();
        out[size_t(r)].dbeta = p[1]->grad.to_vector();
        out[size_t(r)].rmean = p[2]->value.to_vector();
        out[size_t(r)].rvar = p[3]->value.to_vector();
      });
    for (auto& t : threads) t.join();

    std::vector<float> y, dx, dgamma(size_t(C), 0.f), dbeta(size_t(C), 0.f);
    for (int r = 0; r < 2; ++r) {
      ShardRange s = shard_of(N, r, 2);
      const float share = float(s.count) / float(N);  // DataParallel's weight
      y.insert(y.end(), out[size_t(r)].y.begin(), out[size_t(r)].y.end());
      for (float v : out[size_t(r)].dx) dx.push_back(v * share);
      for (int c = 0; c < C; ++c) {
        dgamma[size_t(c)] += share * out[size_t(r)].dgamma[size_t(c)];
        dbeta[size_t(c)] += share * out[size_t(r)].dbeta[size_t(c)];
      }
    }
    if (!synced) {
      // Each rank's own statistics: visibly not the whole batch's.
      EXPECT_GT(worst(y, y_full), 1e-3);
      continue;
    }
    EXPECT_LT(worst(y, y_full), 2e-5);
    EXPECT_LT(worst(dx, dx_full), 2e-5);
    // The kernel sums dgamma/dbeta per rank over its rows of dL_r/dy: the
    // weighted sum over ranks is the whole batch's.
    std::vector<float> dgf(static_cast<size_t>(C)), dbf(static_cast<size_t>(C));
    for (int c = 0; c < C; ++c) {
      dgf[size_t(c)] = dgamma_full[size_t(c)];
      dbf[size_t(c)] = dbeta_full[size_t(c)];
    }
    EXPECT_LT(worst(dgamma, dgf), 2e-5);
    EXPECT_LT(worst(dbeta, dbf), 2e-5);
    for (int r = 0; r < 2; ++r) {
      EXPECT_LT(worst(out[size_t(r)].rmean, fp[2]->value.to_vector()), 1e-6);
      EXPECT_LT(worst(out[size_t(r)].rvar, fp[3]->value.to_vector()), 1e-6);
    }
  }
}

TEST(SyncBatchNorm, EveryRankNeedsRowsOfEveryBatch) {
  auto group = thread_group(2);
  DataParallel dp(group[0]);
  Rng rng(1);
  auto model = Model::from_spec(Model::builtin_spec("resnet-small", Shape{1, 28, 28}, 6), rng);
  EXPECT_GT(dp.enable_sync_batchnorm(*model, 101, 32, 0), 0);             // last batch: 5 rows
  EXPECT_THROW(dp.enable_sync_batchnorm(*model, 97, 32, 0), InputError);  // last batch: 1 row
  EXPECT_GT(dp.enable_sync_batchnorm(*model, 97, 32, 3), 0);              // capped before it
  EXPECT_THROW(dp.enable_sync_batchnorm(*model, 100, 1, 0), InputError);  // batch of 1
  EXPECT_NE(dp.describe(*model).find("synchronised BatchNorm"), std::string::npos);
  auto mlp = Model::from_spec(Model::builtin_spec("mlp", Shape{1, 28, 28}, 6), rng);
  EXPECT_EQ(dp.enable_sync_batchnorm(*mlp, 97, 32, 0), 0);  // nothing to synchronise
}
