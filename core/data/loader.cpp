#include "core/data/loader.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "core/tensor/error.h"
#include "core/tensor/random.h"

namespace perceptra {

struct DataLoader::Impl {
  std::shared_ptr<const Dataset> data;
  std::vector<int64_t> indices;
  LoaderOptions opt;
  int64_t C = 0, H = 0, W = 0, sample = 0;

  // Normalised float copy of the selected samples, by position. Built once
  // by the first epoch's producer (only one producer runs at a time).
  std::vector<float> cache;
  bool cache_ready = false;
  std::atomic<bool> cache_used{false};

  // Current epoch.
  int64_t epoch = -1;
  std::vector<int64_t> order;
  int64_t next_batch = 0;  // synchronous mode only

  // Worker / queue.
  std::thread worker;
  std::mutex mu;
  std::condition_variable cv;
  struct Item {
    Batch batch;
    std::exception_ptr error;
    bool end = false;
  };
  std::deque<Item> queue;
  bool stopping = false;   // tells the producer to quit
  bool cancelled = false;  // stop() was called: next() returns false
  bool epoch_done = true;  // consumer-side only

  int64_t n() const { return int64_t(indices.size()); }
  int64_t batches() const {
    const int64_t b = opt.batch_size;
    return opt.drop_last ? n() / b : (n() + b - 1) / b;
  }

  std::vector<int64_t> make_order(int64_t e) const {
    std::vector<int64_t> o(static_cast<size_t>(n()));
    for (int64_t i = 0; i < n(); ++i) o[size_t(i)] = i;
    if (opt.shuffle) {
      Rng rng = Rng(opt.seed).fork(uint64_t(e));
      for (size_t i = o.size(); i > 1; --i) std::swap(o[i - 1], o[size_t(rng.below(i))]);
    }
    return o;
  }

  // One sample, normalised, into out.
  void load_sample(int64_t pos, float* out) const {
    const int64_t idx = indices[size_t(pos)];
    if (const uint8_t* p = data->pixels_u8(idx)) {
      constexpr float k = 1.f / 255.f;
      for (int64_t i = 0; i < sample; ++i) out[i] = float(p[i]) * k;
    } else {
      data->image(idx, out);
    }
    opt.norm.apply(out, C, H * W);
  }

  void build_cache_if_fits() {
    if (cache_ready) return;
    cache_ready = true;
    const int64_t bytes = n() * sample * int64_t(sizeof(float));
    if (bytes > opt.cache_budget_bytes) return;
    std::vector<float> c(static_cast<size_t>(n() * sample));
    for (int64_t pos = 0; pos < n(); ++pos) {
      {
        std::lock_guard<std::mutex> lk(mu);
        if (stopping) return;  // not built; retried next epoch
      }
      load_sample(pos, c.data() + pos * sample);
    }
    cache = std::move(c);
    cache_used = true;
  }

  Batch make_batch(int64_t e, int64_t b, std::vector<float>& scratch) const {
    const int64_t begin = b * opt.batch_size;
    const int64_t end = std::min(n(), begin + opt.batch_size);
    const int64_t count = end - begin;
    Batch out;
    out.epoch = e;
    out.batch = b;
    out.images = Tensor::empty(Shape{count, C, H, W});
    out.labels = Tensor::empty(Shape{count});
    out.indices.resize(size_t(count));
    float* img = out.images.data();
    float* lab = out.labels.data();
    for (int64_t k = 0; k < count; ++k) {
      const int64_t pos = order[size_t(begin + k)];
      const int64_t idx = indices[size_t(pos)];
      float* dst = img + k * sample;
      if (cache_used)
        std::memcpy(dst, cache.data() + pos * sample, size_t(sample) * sizeof(float));
      else
        load_sample(pos, dst);
      if (opt.augment.any()) {
        Rng rng = augment_rng(opt.seed, e, idx);
        augment_image(dst, C, H, W, opt.augment, opt.norm, rng, scratch);
      }
      lab[k] = float(data->label(idx));
      out.indices[size_t(k)] = idx;
    }
    return out;
  }

  void produce(int64_t e) {
    std::vector<float> scratch;
    try {
      build_cache_if_fits();
      for (int64_t b = 0; b < batches(); ++b) {
        {
          std::unique_lock<std::mutex> lk(mu);
          cv.wait(lk, [&] { return stopping || int64_t(queue.size()) < opt.prefetch; });
          if (stopping) return;
        }
        Batch batch = make_batch(e, b, scratch);
        std::lock_guard<std::mutex> lk(mu);
        if (stopping) return;
        queue.push_back(Item{std::move(batch), nullptr, false});
        cv.notify_all();
      }
      std::lock_guard<std::mutex> lk(mu);
      queue.push_back(Item{{}, nullptr, true});
      cv.notify_all();
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu);
      queue.push_back(Item{{}, std::current_exception(), false});
      cv.notify_all();
    }
  }

  void join() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stopping = true;
      cv.notify_all();
    }
    if (worker.joinable()) worker.join();
    std::lock_guard<std::mutex> lk(mu);
    queue.clear();
    stopping = false;
  }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> data, std::vector<int64_t> indices,
                       LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  PCHECK(data != nullptr, "DataLoader: null dataset");
  if (options.batch_size <= 0)
    throw InputError("batch size", "must be positive, got " + std::to_string(options.batch_size));
  if (options.prefetch < 0) options.prefetch = 0;
  impl_->data = std::move(data);
  if (indices.empty()) {
    indices.resize(size_t(impl_->data->size()));
    for (int64_t i = 0; i < impl_->data->size(); ++i) indices[size_t(i)] = i;
  }
  for (int64_t i : indices)
    PCHECK(i >= 0 && i < impl_->data->size(),
           "DataLoader: sample index " + std::to_string(i) + " out of range for " +
               std::to_string(impl_->data->size()) + " samples of " + impl_->data->source());
  impl_->indices = std::move(indices);
  impl_->opt = std::move(options);
  const Shape s = impl_->data->sample_shape();
  impl_->C = s[0];
  impl_->H = s[1];
  impl_->W = s[2];
  impl_->sample = s.numel();
  if (!impl_->opt.norm.empty() && impl_->opt.norm.channels() != impl_->C)
    throw InputError("normalisation", "statistics have " +
                                          std::to_string(impl_->opt.norm.channels()) +
                                          " channels but the data has " + std::to_string(impl_->C));
}

DataLoader::~DataLoader() { impl_->join(); }

int64_t DataLoader::size() const { return impl_->n(); }
int64_t DataLoader::num_batches() const { return impl_->batches(); }
const LoaderOptions& DataLoader::options() const { return impl_->opt; }
const Dataset& DataLoader::dataset() const { return *impl_->data; }
std::vector<int64_t> DataLoader::epoch_order(int64_t e) const { return impl_->make_order(e); }
bool DataLoader::cached() const { return impl_->cache_used; }

void DataLoader::start_epoch(int64_t epoch) {
  Impl& m = *impl_;
  m.join();
  {
    std::lock_guard<std::mutex> lk(m.mu);
    m.cancelled = false;
  }
  m.epoch = epoch;
  m.order = m.make_order(epoch);
  m.next_batch = 0;
  m.epoch_done = false;
  if (m.opt.prefetch > 0) m.worker = std::thread([&m, epoch] { m.produce(epoch); });
}

bool DataLoader::next(Batch& out) {
  Impl& m = *impl_;
  if (m.epoch < 0) start_epoch(0);
  if (m.epoch_done) return false;
  if (m.opt.prefetch == 0) {
    if (m.cancelled) return false;
    if (m.next_batch >= m.batches()) {
      m.epoch_done = true;
      return false;
    }
    std::vector<float> scratch;
    try {
      m.build_cache_if_fits();
      out = m.make_batch(m.epoch, m.next_batch++, scratch);
    } catch (...) {
      m.epoch_done = true;
      throw;
    }
    return true;
  }
  Impl::Item item;
  {
    std::unique_lock<std::mutex> lk(m.mu);
    m.cv.wait(lk, [&] { return !m.queue.empty() || m.cancelled; });
    if (m.queue.empty()) {
      m.epoch_done = true;
      return false;
    }
    item = std::move(m.queue.front());
    m.queue.pop_front();
    m.cv.notify_all();
  }
  if (item.error) {
    m.epoch_done = true;
    std::rethrow_exception(item.error);
  }
  if (item.end) {
    m.epoch_done = true;
    return false;
  }
  out = std::move(item.batch);
  return true;
}

void DataLoader::stop() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->cancelled = true;
    impl_->cv.notify_all();
  }
  impl_->join();
}

}  // namespace perceptra
