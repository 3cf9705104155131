#include "core/data/loader.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <exception>
#include <mutex>
#include <thread>

#include "core/data/workers.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"

namespace perceptra {

struct DataLoader::Impl {
  std::shared_ptr<const Dataset> data;
  std::vector<int64_t> indices;
  LoaderOptions opt;
  int64_t C = 0, H = 0, W = 0, sample = 0;
  bool on_demand = false;  // samples are decoded when read (no float cache)
  int nworkers = 1;
  int in_flight = 1;  // batches being made or waiting, at most

  // Normalised float copy of the selected samples, by position. Built once
  // by the first epoch's producer (in-memory data only).
  std::vector<float> cache;
  bool cache_ready = false;
  std::mutex cache_mu;
  std::atomic<bool> cache_used{false};

  // Current epoch.
  int64_t epoch = -1;
  std::vector<int64_t> order;
  int64_t next_batch = 0;  // synchronous mode only

  // Workers / queue: workers claim batch numbers in order and put finished
  // batches (or their error) into `ready`; next() takes them in order.
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv;
  struct Item {
    Batch batch;
    std::exception_ptr error;
  };
  std::map<int64_t, Item> ready;
  int64_t next_make = 0, next_take = 0;
  std::exception_ptr fatal;  // the float cache could not be built
  bool stopping = false;     // tells the workers to quit
  bool cancelled = false;    // stop() was called: next() returns false
  bool epoch_done = true;    // consumer-side only

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

  bool cache_fits() const { return n() * sample * int64_t(sizeof(float)) <= opt.cache_budget_bytes; }

  void build_cache_if_fits() {
    std::lock_guard<std::mutex> build(cache_mu);
    if (cache_ready) return;
    if (on_demand) {
      // The dataset caches its decoded 8-bit images itself (4x smaller).
      cache_ready = true;
      return;
    }
    if (!cache_fits()) {
      cache_ready = true;
      return;
    }
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
    cache_ready = true;
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

  void work(int64_t e) {
    std::vector<float> scratch;
    try {
      build_cache_if_fits();
    } catch (...) {
      std::lock_guard<std::mutex> lk(mu);
      if (!fatal) fatal = std::current_exception();
      cv.notify_all();
      return;
    }
    const int64_t total = batches();
    while (true) {
      int64_t b = 0;
      {
        std::unique_lock<std::mutex> lk(mu);
        cv.wait(lk, [&] { return stopping || next_make >= total || next_make < next_take + in_flight; });
        if (stopping || next_make >= total) return;
        b = next_make++;
      }
      Item item;
      try {
        item.batch = make_batch(e, b, scratch);
      } catch (...) {
        item.error = std::current_exception();
      }
      const bool failed = item.error != nullptr;
      std::lock_guard<std::mutex> lk(mu);
      if (stopping) return;
      ready.emplace(b, std::move(item));
      cv.notify_all();
      if (failed) return;  // the consumer stops at this batch
    }
  }

  void join() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stopping = true;
      cv.notify_all();
    }
    for (auto& w : workers)
      if (w.joinable()) w.join();
    workers.clear();
    std::lock_guard<std::mutex> lk(mu);
    ready.clear();
    fatal = nullptr;
    next_make = next_take = 0;
    stopping = false;
  }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> data, std::vector<int64_t> indices, LoaderOptions options)
    : impl_(std::make_unique<Impl>()) {
  PCHECK(data != nullptr, "DataLoader: null dataset");
  if (options.batch_size <= 0)
    throw InputError("batch size", "must be positive, got " + std::to_string(options.batch_size));
  impl_->data = std::move(data);
  if (indices.empty()) {
    indices.resize(size_t(impl_->data->size()));
    for (int64_t i = 0; i < impl_->data->size(); ++i) indices[size_t(i)] = i;
  }
  for (int64_t i : indices)
    PCHECK(i >= 0 && i < impl_->data->size(), "DataLoader: sample index " + std::to_string(i) + " out of range for " +
                                                  std::to_string(impl_->data->size()) + " samples of " +
                                                  impl_->data->source());
  impl_->indices = std::move(indices);
  impl_->opt = std::move(options);
  const Shape s = impl_->data->sample_shape();
  impl_->C = s[0];
  impl_->H = s[1];
  impl_->W = s[2];
  impl_->sample = s.numel();
  Impl& m = *impl_;
  m.on_demand = m.n() > 0 && m.data->pixels_u8(m.indices[0]) == nullptr;
  m.nworkers = m.opt.workers > 0 ? m.opt.workers : (m.on_demand ? default_decode_threads() : 1);
  m.nworkers = std::clamp(m.nworkers, 1, 64);
  // A worker thread preempts one of the step's OpenMP threads, which the
  // others then wait for at their next barrier: where a batch is a memcpy
  // per sample it cost more than it hid (bench_train's MLP on 2 vCPUs,
  // interleaved pairs: training 70.4k / 68.9k / 64.8k -> 72.9k / 70.3k /
  // 73.4k img/s, inference 5-7 % faster).
  const bool gather_only = !m.on_demand && !m.opt.augment.any() && m.cache_fits();
  if (m.opt.prefetch < 0) m.opt.prefetch = gather_only ? 0 : 4;
  // Batches alive at once: enough to keep every worker busy, fewer when a
  // batch is large (128 RGB images at 224x224 are 77 MB of floats).
  const int64_t batch_bytes = m.opt.batch_size * m.sample * int64_t(sizeof(float));
  m.in_flight = std::max(1, m.opt.prefetch);
  if (batch_bytes > (int64_t(64) << 20)) m.in_flight = std::min(m.in_flight, std::max(2, m.nworkers));
  m.in_flight = std::max(m.in_flight, m.nworkers);
  if (!impl_->opt.norm.empty() && impl_->opt.norm.channels() != impl_->C)
    throw InputError("normalisation", "statistics have " + std::to_string(impl_->opt.norm.channels()) +
                                          " channels but the data has " + std::to_string(impl_->C));
}

DataLoader::~DataLoader() { impl_->join(); }

int64_t DataLoader::size() const { return impl_->n(); }
int64_t DataLoader::num_batches() const { return impl_->batches(); }
const LoaderOptions& DataLoader::options() const { return impl_->opt; }
const Dataset& DataLoader::dataset() const { return *impl_->data; }
std::vector<int64_t> DataLoader::epoch_order(int64_t e) const { return impl_->make_order(e); }
bool DataLoader::cached() const { return impl_->cache_used; }
int DataLoader::workers() const { return impl_->opt.prefetch > 0 ? impl_->nworkers : 1; }

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
  if (m.opt.prefetch > 0)
    for (int w = 0; w < m.nworkers; ++w) m.workers.emplace_back([&m, epoch] { m.work(epoch); });
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
  if (m.next_take >= m.batches()) {
    m.epoch_done = true;
    return false;
  }
  Impl::Item item;
  {
    std::unique_lock<std::mutex> lk(m.mu);
    m.cv.wait(lk, [&] { return m.ready.count(m.next_take) || m.fatal || m.cancelled; });
    auto it = m.ready.find(m.next_take);
    if (it == m.ready.end()) {
      m.epoch_done = true;
      if (m.fatal && !m.cancelled) std::rethrow_exception(m.fatal);
      return false;
    }
    item = std::move(it->second);
    m.ready.erase(it);
    ++m.next_take;
    m.cv.notify_all();
  }
  if (item.error) {
    m.epoch_done = true;
    std::rethrow_exception(item.error);
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
