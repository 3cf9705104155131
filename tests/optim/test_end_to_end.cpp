// End to end: a SimpleCNN learns a small generated problem with SGD momentum.
// Images 1x12x12: a bright Gaussian blob in one of the four quadrants (the
// class), jittered, on Gaussian noise. 320 training and 200 held-out samples.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/lr_finder.h"
#include "core/optim/optimizer.h"
#include "core/tensor/random.h"

namespace perceptra {
namespace {

constexpr int kSide = 12, kClasses = 4;

struct Problem {
  std::vector<float> images, labels;
  int count = 0;
};

Problem make_problem(int count, uint64_t seed) {
  Rng rng(seed);
  Problem p;
  p.count = count;
  p.images.resize(static_cast<size_t>(count) * kSide * kSide);
  for (int i = 0; i < count; ++i) {
    int cls = static_cast<int>(rng.below(kClasses));
    p.labels.push_back(static_cast<float>(cls));
    float cy = (cls / 2 ? 8.5f : 2.5f) + rng.uniform(-1.f, 1.f);
    float cx = (cls % 2 ? 8.5f : 2.5f) + rng.uniform(-1.f, 1.f);
    float* img = &p.images[static_cast<size_t>(i) * kSide * kSide];
    for (int y = 0; y < kSide; ++y)
      for (int x = 0; x < kSide; ++x) {
        float d2 = (y - cy) * (y - cy) + (x - cx) * (x - cx);
        img[y * kSide + x] = std::exp(-d2 / (2 * 1.5f * 1.5f)) + rng.normal(0.f, 0.6f);
      }
  }
  return p;
}

struct Batch {
  Tensor x, y;
};

Batch gather(const Problem& p, const std::vector<int>& idx, size_t begin, size_t end) {
  const size_t plane = kSide * kSide;
  std::vector<float> x((end - begin) * plane), y;
  for (size_t k = begin; k < end; ++k) {
    std::copy_n(&p.images[static_cast<size_t>(idx[k]) * plane], plane, &x[(k - begin) * plane]);
    y.push_back(p.labels[static_cast<size_t>(idx[k])]);
  }
  int64_t n = static_cast<int64_t>(end - begin);
  return {Tensor::from_vector(Shape{n, 1, kSide, kSide}, x), Tensor::from_vector(Shape{n}, y)};
}

struct RunResult {
  std::vector<double> losses;  // every batch
  double test_accuracy = 0;
};

RunResult train_run(uint64_t seed) {
  Problem train = make_problem(320, 1000 + seed), test = make_problem(200, 5000 + seed);
  Rng rng(seed);
  auto model = Model::from_spec(Model::builtin_spec("simplecnn", Shape{1, kSide, kSide}, kClasses), rng);
  OptimizerConfig cfg;
  cfg.kind = "sgd";
  cfg.lr = 0.02f;
  cfg.momentum = 0.9f;
  cfg.weight_decay = 1e-4f;
  auto opt = make_optimizer(cfg, model->parameters());
  SoftmaxCrossEntropy loss;
  RunResult r;
  std::vector<int> order(static_cast<size_t>(train.count));
  std::iota(order.begin(), order.end(), 0);
  const size_t batch = 32;
  for (int epoch = 0; epoch < 4; ++epoch) {
    Rng shuffle = rng.fork(static_cast<uint64_t>(epoch));
    for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[static_cast<size_t>(shuffle.below(i + 1))]);
    for (size_t b = 0; b < order.size(); b += batch) {
      Batch bt = gather(train, order, b, std::min(order.size(), b + batch));
      Tensor logits = model->forward(bt.x, true);
      r.losses.push_back(loss.forward(logits, bt.y));
      model->backward(loss.backward());
      opt->step();
    }
  }
  std::vector<int> all(static_cast<size_t>(test.count));
  std::iota(all.begin(), all.end(), 0);
  Batch bt = gather(test, all, 0, all.size());
  std::vector<float> logits = model->forward(bt.x, false).to_vector();
  int correct = 0;
  for (int i = 0; i < test.count; ++i) {
    const float* row = &logits[static_cast<size_t>(i) * kClasses];
    int pred = static_cast<int>(std::max_element(row, row + kClasses) - row);
    correct += pred == static_cast<int>(test.labels[static_cast<size_t>(i)]);
  }
  r.test_accuracy = static_cast<double>(correct) / test.count;
  return r;
}

TEST(EndToEnd, SimpleCnnLearnsQuadrantBlobsDeterministically) {
  auto t0 = std::chrono::steady_clock::now();
  RunResult a = train_run(42);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RunResult b = train_run(42);
  std::printf(
      "SimpleCNN quadrant blobs: first-batch loss %.4f, last-batch loss %.6f, "
      "held-out accuracy %.3f (chance 0.25), one run %.2f s\n",
      a.losses.front(), a.losses.back(), a.test_accuracy, seconds);
  EXPECT_GT(a.test_accuracy, 0.9);
  EXPECT_LT(a.losses.back(), 0.5 * a.losses.front());
  // Same seed, same machine: bit-identical loss sequence.
  ASSERT_EQ(a.losses.size(), b.losses.size());
  for (size_t i = 0; i < a.losses.size(); ++i) ASSERT_EQ(a.losses[i], b.losses[i]) << "batch " << i;
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
}

TEST(EndToEnd, LrFinderOnSimpleCnn) {
  // The trainer's use: sweep on fresh weights, one batch per LR.
  Problem train = make_problem(320, 77);
  Rng rng(3);
  auto model = Model::from_spec(Model::builtin_spec("simplecnn", Shape{1, kSide, kSide}, kClasses), rng);
  OptimizerConfig cfg;
  cfg.momentum = 0.9f;
  auto opt = make_optimizer(cfg, model->parameters());
  SoftmaxCrossEntropy loss;
  std::vector<int> order(static_cast<size_t>(train.count));
  std::iota(order.begin(), order.end(), 0);
  LrFinder finder;
  size_t at = 0;
  while (!finder.done()) {
    opt->set_lr(static_cast<float>(finder.next_lr()));
    if (at + 32 > order.size()) at = 0;
    Batch bt = gather(train, order, at, at + 32);
    at += 32;
    double l = loss.forward(model->forward(bt.x, true), bt.y);
    model->backward(loss.backward());
    opt->step();
    finder.record(l);
  }
  LrFinderResult r = finder.result();
  std::printf("LR finder on SimpleCNN: %zu points, %s, suggested %.3g (steepest), min/10 %.3g\n", r.curve.size(),
              r.stop_reason.c_str(), r.suggested_lr, r.min_div10_lr);
  EXPECT_TRUE(r.diverged);  // SGD momentum cannot survive lr 10
  EXPECT_GT(r.suggested_lr, 1e-4);
  EXPECT_LT(r.suggested_lr, 1.0);
  EXPECT_GT(r.min_div10_lr, 1e-4);
  EXPECT_LT(r.min_div10_lr, 1.0);
}

}  // namespace
}  // namespace perceptra
