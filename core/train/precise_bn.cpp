#include "core/train/precise_bn.h"

#include <algorithm>
#include <functional>

#include "core/nn/batchnorm.h"
#include "core/nn/dropout.h"
#include "core/tensor/random.h"

namespace perceptra {
namespace {

void visit(const std::vector<Layer*>& layers, const std::function<void(Layer&)>& f) {
  for (Layer* l : layers) {
    f(*l);
    visit(l->children(), f);
  }
}

}  // namespace

bool has_batchnorm(Model& model) {
  bool found = false;
  visit(model.layers(), [&](Layer& l) { found = found || dynamic_cast<BatchNorm*>(&l) != nullptr; });
  return found;
}

std::vector<int64_t> precise_bn_subset(const std::vector<int64_t>& train_indices, const PreciseBnOptions& o) {
  const int64_t n = int64_t(train_indices.size());
  const int64_t want = std::min({o.max_images, std::max(n / 4, o.batch_size), n});
  if (want <= 0) return {};
  // A partial Fisher-Yates shuffle: the first `want` of a seeded permutation.
  std::vector<int64_t> pick(train_indices);
  Rng rng(o.seed ^ 0x9e3779b97f4a7c15ull);
  for (int64_t i = 0; i < want; ++i) {
    const int64_t j = i + int64_t(rng.below(uint64_t(n - i)));
    std::swap(pick[size_t(i)], pick[size_t(j)]);
  }
  pick.resize(size_t(want));
  return pick;
}

int64_t reestimate_batchnorm(Model& model, std::shared_ptr<const Dataset> data, std::vector<int64_t> subset,
                             const PreciseBnOptions& o, const std::atomic<bool>* cancel) {
  std::vector<BatchNorm*> bns;
  std::vector<std::pair<Dropout*, uint64_t>> drops;
  visit(model.layers(), [&](Layer& l) {
    if (auto* bn = dynamic_cast<BatchNorm*>(&l)) bns.push_back(bn);
    if (auto* d = dynamic_cast<Dropout*>(&l)) drops.emplace_back(d, d->calls());
  });
  if (bns.empty() || subset.empty()) return 0;
  LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.shuffle = false;
  lo.seed = o.seed;
  lo.augment = o.augment;
  lo.norm = o.norm;
  lo.prefetch = 2;
  DataLoader loader(std::move(data), std::move(subset), lo);
  for (BatchNorm* bn : bns) bn->set_cumulative(true);
  // Back to the exponential average and the dropout sequence training had,
  // also when a forward throws (out of memory).
  struct Restore {
    std::vector<BatchNorm*>& bns;
    std::vector<std::pair<Dropout*, uint64_t>>& drops;
    ~Restore() {
      for (BatchNorm* bn : bns) bn->set_cumulative(false);
      for (auto& [d, calls] : drops) d->set_state(d->seed(), calls);
    }
  } restore{bns, drops};
  const Device device = model.device();
  loader.start_epoch(o.epoch);
  Batch b;
  int64_t used = 0;
  while (loader.next(b)) {
    if (cancel && cancel->load()) return 0;
    // A batch of one image without spatial size has no variance to estimate.
    if (b.labels.numel() < 2 && used > 0) break;
    model.forward(b.images.to(device), /*training=*/true);
    used += b.labels.numel();
  }
  return used;
}

}  // namespace perceptra
