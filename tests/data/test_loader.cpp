#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <numeric>
#include <thread>

#include "core/data/class_names.h"
#include "core/data/image_folder.h"
#include "core/data/loader.h"
#include "core/data/memory_dataset.h"
#include "core/tensor/error.h"
#include "tests/data/data_fixtures.h"

using namespace perceptra;
using namespace perceptra::test;

namespace {
// Sample i: [2,3,3], pixel k of channel c = (i*5 + k + 40c) % 256, label i % 4.
std::shared_ptr<MemoryDataset> toy(int n) {
  std::vector<uint8_t> px;
  std::vector<int32_t> labels;
  for (int i = 0; i < n; ++i) {
    for (int c = 0; c < 2; ++c)
      for (int k = 0; k < 9; ++k) px.push_back(uint8_t((i * 5 + k + 40 * c) % 256));
    labels.push_back(i % 4);
  }
  return std::make_shared<MemoryDataset>("toy", Shape{2, 3, 3}, numbered_class_names(4), px, labels);
}

// Wraps a dataset and hides its 8-bit fast path (like a lazily decoded folder).
class NoFastPath : public Dataset {
 public:
  explicit NoFastPath(std::shared_ptr<const Dataset> d) : d_(std::move(d)) {}
  int64_t size() const override { return d_->size(); }
  Shape sample_shape() const override { return d_->sample_shape(); }
  const std::vector<std::string>& class_names() const override { return d_->class_names(); }
  int label(int64_t i) const override { return d_->label(i); }
  void image(int64_t i, float* out) const override { d_->image(i, out); }
  std::string source() const override { return d_->source(); }

 protected:
  std::shared_ptr<const Dataset> d_;
};

std::vector<Batch> epoch(DataLoader& l, int64_t e) {
  l.start_epoch(e);
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

std::vector<float> flat(const std::vector<Batch>& bs) {
  std::vector<float> v;
  for (auto& b : bs) {
    auto x = b.images.to_vector();
    v.insert(v.end(), x.begin(), x.end());
  }
  return v;
}
}  // namespace

TEST(Loader, OrderedBatchesWithPartialLast) {
  auto d = toy(10);
  LoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  DataLoader l(d, {}, o);
  EXPECT_EQ(l.num_batches(), 3);
  auto bs = epoch(l, 0);
  ASSERT_EQ(bs.size(), 3u);
  EXPECT_EQ(bs[2].images.shape(), (Shape{2, 2, 3, 3}));
  EXPECT_EQ(bs[2].indices, (std::vector<int64_t>{8, 9}));
  EXPECT_EQ(bs[1].batch, 1);
  auto labels = bs[0].labels.to_vector();
  EXPECT_EQ(labels, (std::vector<float>{0, 1, 2, 3}));
  std::vector<float> want(18);
  d->image(5, want.data());
  auto got = bs[1].images.to_vector();
  for (int k = 0; k < 18; ++k) EXPECT_FLOAT_EQ(got[size_t(18 + k)], want[size_t(k)]);

  o.drop_last = true;
  DataLoader l2(d, {}, o);
  EXPECT_EQ(l2.num_batches(), 2);
  EXPECT_EQ(epoch(l2, 0).size(), 2u);
}

TEST(Loader, ShufflesPerEpochReproducibly) {
  auto d = toy(100);
  LoaderOptions o;
  o.batch_size = 16;
  o.seed = 11;
  DataLoader a(d, {}, o), b(d, {}, o);
  auto a0 = epoch(a, 0), a1 = epoch(a, 1), b1 = epoch(b, 1);
  std::vector<int64_t> ia0, ia1, ib1;
  for (auto& x : a0) ia0.insert(ia0.end(), x.indices.begin(), x.indices.end());
  for (auto& x : a1) ia1.insert(ia1.end(), x.indices.begin(), x.indices.end());
  for (auto& x : b1) ib1.insert(ib1.end(), x.indices.begin(), x.indices.end());
  EXPECT_EQ(ia1, ib1);
  EXPECT_NE(ia0, ia1);
  auto sorted = ia0;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> all(100);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted, all);
  EXPECT_EQ(a.epoch_order(1), ia1);  // positions == indices when all samples are used
}

TEST(Loader, IndicesSelectSubsetAndNormalise) {
  auto d = toy(50);
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  o.norm = NormStats{{0.5f, 0.25f}, {0.5f, 0.125f}};
  DataLoader l(d, {7, 3, 40}, o);
  auto bs = epoch(l, 0);
  ASSERT_EQ(bs.size(), 1u);
  EXPECT_EQ(bs[0].indices, (std::vector<int64_t>{7, 3, 40}));
  EXPECT_EQ(bs[0].labels.to_vector(), (std::vector<float>{3, 3, 0}));
  auto x = bs[0].images.to_vector();
  // Sample 3, channel 1, pixel 2: (15 + 2 + 40)/255.
  float raw = float((3 * 5 + 2 + 40) % 256) / 255.f;
  EXPECT_NEAR(x[size_t(18 + 9 + 2)], (raw - 0.25f) / 0.125f, 1e-5);
}

TEST(Loader, CacheThreadingAndFastPathDoNotChangeResults) {
  auto d = toy(64);
  LoaderOptions o;
  o.batch_size = 8;
  o.seed = 3;
  o.norm = NormStats{{0.4f, 0.5f}, {0.2f, 0.3f}};
  o.augment.crop = o.augment.hflip = o.augment.rotate = o.augment.color = true;
  o.augment.crop_padding = 1;
  DataLoader ref(d, {}, o);
  auto want = flat(epoch(ref, 2));
  EXPECT_TRUE(ref.cached());
  for (int variant = 0; variant < 3; ++variant) {
    LoaderOptions v = o;
    std::shared_ptr<const Dataset> data = d;
    if (variant == 0) v.prefetch = 0;            // synchronous
    if (variant == 1) v.cache_budget_bytes = 0;  // no float cache
    if (variant == 2) data = std::make_shared<NoFastPath>(d);
    DataLoader l(data, {}, v);
    EXPECT_EQ(flat(epoch(l, 2)), want) << "variant " << variant;
  }
  // Augmentation is on: differs from the plain data, and between epochs.
  LoaderOptions plain = o;
  plain.augment = {};
  DataLoader p(d, {}, plain);
  EXPECT_NE(flat(epoch(p, 2)), want);
  EXPECT_NE(flat(epoch(ref, 3)), want);
}

// Records the threads that read its labels (make_batch reads every label);
// keeps the fast path.
class ThreadWitness : public NoFastPath {
 public:
  using NoFastPath::NoFastPath;
  int label(int64_t i) const override {
    const std::lock_guard<std::mutex> lk(mu_);
    if (std::find(seen_.begin(), seen_.end(), std::this_thread::get_id()) == seen_.end())
      seen_.push_back(std::this_thread::get_id());
    return d_->label(i);
  }
  const uint8_t* pixels_u8(int64_t i) const override { return d_->pixels_u8(i); }
  std::vector<std::thread::id> seen() const {
    const std::lock_guard<std::mutex> lk(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::vector<std::thread::id> seen_;
};

TEST(Loader, GathersFromTheCacheOnTheCallersThreadOnly) {
  // Auto prefetch: no worker where a batch is only a gather from the float
  // cache; a worker where it augments, converts past the cache budget, or
  // was asked for.
  struct Case {
    const char* what;
    bool augment;
    int64_t budget;
    int prefetch;
    bool on_caller;
  };
  for (Case c : {Case{"gather", false, int64_t(1) << 20, -1, true}, Case{"augment", true, int64_t(1) << 20, -1, false},
                 Case{"over budget", false, 0, -1, false}, Case{"asked", false, int64_t(1) << 20, 2, false},
                 Case{"asked none", true, int64_t(1) << 20, 0, true}}) {
    auto d = std::make_shared<ThreadWitness>(toy(40));
    LoaderOptions o;
    o.batch_size = 8;
    o.augment.hflip = c.augment;
    o.cache_budget_bytes = c.budget;
    o.prefetch = c.prefetch;
    DataLoader l(d, {}, o);
    EXPECT_EQ(flat(epoch(l, 0)).size(), size_t(40 * 18)) << c.what;
    const auto seen = d->seen();
    ASSERT_EQ(seen.size(), 1u) << c.what;
    EXPECT_EQ(seen[0] == std::this_thread::get_id(), c.on_caller) << c.what;
    EXPECT_EQ(l.options().prefetch == 0, c.on_caller) << c.what;
    EXPECT_EQ(l.cached(), c.budget > 0) << c.what;
  }
}

TEST(Loader, StopsMidEpochWithoutHanging) {
  auto d = toy(5000);
  LoaderOptions o;
  o.batch_size = 4;
  o.prefetch = 2;
  auto t0 = std::chrono::steady_clock::now();
  for (int rep = 0; rep < 20; ++rep) {
    DataLoader l(d, {}, o);
    l.start_epoch(0);
    Batch b;
    ASSERT_TRUE(l.next(b));
    if (rep % 2) {
      l.stop();
      EXPECT_FALSE(l.next(b));
      l.start_epoch(1);  // restarts cleanly after a stop
      ASSERT_TRUE(l.next(b));
      EXPECT_EQ(b.epoch, 1);
      EXPECT_EQ(b.batch, 0);
    }
    // destructor joins the worker while it waits on a full queue
  }
  // Restarting an epoch mid-way also cancels the old worker.
  DataLoader l(d, {}, o);
  l.start_epoch(0);
  Batch b;
  l.next(b);
  l.start_epoch(0);
  int n = 0;
  while (l.next(b)) ++n;
  EXPECT_EQ(n, 1250);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
}

TEST(Loader, WorkerErrorsReachTheConsumerNamingTheFile) {
  TempDir t;
  for (int i = 0; i < 6; ++i) write_image(t.path() / "a" / (std::to_string(i) + ".png"), 4, 4, 1, i);
  write_bytes(t.path() / "a" / "3b broken.png", corrupt_png(4, 4));
  ImageFolderOptions fo;
  fo.memory_budget_bytes = 1;  // nothing cached: decoded by the loader
  fo.channels = 1;
  fo.height = fo.width = 4;
  auto ds = load_image_folder(t.str(), fo);
  for (int64_t budget : {int64_t(0), int64_t(1) << 20}) {  // per batch and during caching
    for (int prefetch : {0, 3}) {
      LoaderOptions o;
      o.batch_size = 2;
      o.cache_budget_bytes = budget;
      o.prefetch = prefetch;
      DataLoader l(ds, {}, o);
      l.start_epoch(0);
      Batch b;
      try {
        while (l.next(b)) {}
        ADD_FAILURE() << "expected an InputError";
      } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("3b broken.png"), std::string::npos) << e.what();
      }
      EXPECT_FALSE(l.next(b));  // the epoch ended with the error; no hang
    }
  }
}

TEST(Loader, RejectsBadOptions) {
  auto d = toy(4);
  LoaderOptions o;
  o.batch_size = 0;
  EXPECT_THROW(DataLoader(d, {}, o), InputError);
  o.batch_size = 2;
  o.norm = NormStats::identity(3);
  EXPECT_THROW(DataLoader(d, {}, o), InputError);
  o.norm = {};
  EXPECT_THROW(DataLoader(d, {4}, o), Error);
}
