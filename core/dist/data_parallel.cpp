#include "core/dist/data_parallel.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/backend/backend.h"
#include "core/data/loader.h"
#include "core/dist/nccl_communicator.h"
#include "core/nn/batchnorm.h"
#include "core/nn/layer.h"
#include "core/nn/model.h"
#include "core/train/train_step.h"

namespace perceptra {

namespace {

bool has_grad(const Parameter* p) { return p->trainable && p->grad.defined(); }
bool is_buffer(const Parameter* p) { return !p->grad.defined(); }

// Packs a tensor into a float buffer and back: CPU tensors in place, CUDA
// tensors through a host copy.
void pack(const Tensor& t, float* dst) {
  if (t.device().is_cuda()) {
    auto v = t.to_vector();
    std::memcpy(dst, v.data(), v.size() * sizeof(float));
  } else {
    std::memcpy(dst, t.data(), size_t(t.numel()) * sizeof(float));
  }
}
void unpack(const float* src, Tensor& t) {
  if (t.device().is_cuda()) {
    t.copy_from(Tensor::from_vector(t.shape(), std::vector<float>(src, src + t.numel())));
  } else {
    std::memcpy(t.data(), src, size_t(t.numel()) * sizeof(float));
  }
}

// SyncBN's sums travel over the host communicator (MPI), also when the
// gradients go through NCCL: a few doubles per channel.
class CommBatchNormSync final : public BatchNormSync {
 public:
  explicit CommBatchNormSync(std::shared_ptr<Communicator> comm) : comm_(std::move(comm)) {}
  void allreduce_sum(double* data, size_t count) override { comm_->allreduce_sum(data, count); }

 private:
  std::shared_ptr<Communicator> comm_;
};

void collect_batchnorms(Layer* layer, std::vector<BatchNorm*>& out) {
  if (auto* bn = dynamic_cast<BatchNorm*>(layer)) out.push_back(bn);
  for (Layer* child : layer->children()) collect_batchnorms(child, out);
}

}  // namespace

int DataParallel::enable_sync_batchnorm(Model& model, int64_t train_samples, int batch_size, int64_t max_batches) {
  std::vector<BatchNorm*> bns;
  for (Layer* l : model.layers()) collect_batchnorms(l, bns);
  if (bns.empty()) return 0;
  const int64_t full = batch_size > 0 ? train_samples / batch_size : 0;
  const int64_t rest = batch_size > 0 ? train_samples % batch_size : 0;
  const bool last_is_partial = rest > 0 && (max_batches <= 0 || max_batches > full);
  if (batch_size < size() || (last_is_partial && rest < size()))
    throw InputError("--sync-bn", "every rank needs rows of every batch, but " +
                                      (batch_size < size() ? "the batch size " + std::to_string(batch_size)
                                                           : "the last batch of an epoch (" + std::to_string(rest) +
                                                                 " of " + std::to_string(train_samples) + " samples)") +
                                      " is smaller than the " + std::to_string(size()) +
                                      " ranks; choose another batch size");
  auto sync = std::make_shared<CommBatchNormSync>(comm_);
  for (BatchNorm* bn : bns) bn->set_sync(sync);
  sync_bn_layers_ = int(bns.size());
  return sync_bn_layers_;
}

ShardRange shard_of(int64_t global, int rank, int ranks) {
  PCHECK(ranks >= 1 && rank >= 0 && rank < ranks,
         "shard_of: rank " + std::to_string(rank) + " of " + std::to_string(ranks));
  ShardRange s;
  s.begin = global * rank / ranks;
  s.count = global * (rank + 1) / ranks - s.begin;
  return s;
}

DataParallel::DataParallel(std::shared_ptr<Communicator> comm, std::shared_ptr<Communicator> device_comm)
    : comm_(std::move(comm)), device_comm_(std::move(device_comm)) {
  PCHECK(comm_ != nullptr, "DataParallel: no communicator");
}

Batch DataParallel::shard(const Batch& g) {
  const int64_t n = g.labels.numel();
  ShardRange s = shard_of(n, rank(), size());
  Batch b;
  b.epoch = g.epoch;
  b.batch = g.batch;
  b.images = g.images.slice(s.begin, s.begin + s.count);
  b.labels = g.labels.slice(s.begin, s.begin + s.count);
  if (g.indices.size() == size_t(n))
    b.indices.assign(g.indices.begin() + s.begin, g.indices.begin() + s.begin + s.count);
  return b;
}

bool DataParallel::combine_step(Model& model, StepResult& step, bool has_gradients, int64_t global_samples, bool stop) {
  // One small allreduce for the statistics: loss sum, correct, rows, ranks
  // without gradients (non-finite loss), stop wishes.
  const int64_t local = has_gradients ? step.samples : 0;
  const bool bad = step.samples > 0 && !has_gradients;
  double v[5] = {has_gradients ? step.loss * double(step.samples) : 0.0, double(step.correct), double(step.samples),
                 bad ? 1.0 : 0.0, stop ? 1.0 : 0.0};
  comm_->allreduce_sum(v, 5);
  step.samples = int64_t(std::llround(v[2]));
  step.correct = int64_t(std::llround(v[1]));
  // A non-finite loss on any rank makes the global batch's loss NaN (the
  // NaN guard then stops every rank alike); no gradients are exchanged.
  step.loss = v[3] > 0.5 ? std::nan("") : (step.samples > 0 ? v[0] / v[2] : 0.0);
  PCHECK(step.samples == global_samples, "combine_step: the ranks' shards do not add up to the global batch");
  if (std::isfinite(step.loss)) {
    if (!has_gradients)  // an empty shard contributes zero
      for (Parameter* p : model.parameters())
        if (has_grad(p)) p->grad.fill(0.f);
    average_gradients(model.parameters(), local, global_samples);
  }
  return v[4] > 0.5;
}

void DataParallel::average_gradients(const std::vector<Parameter*>& params, int64_t local, int64_t global) {
  PCHECK(global > 0, "average_gradients: empty global batch");
  const float w = float(double(local) / double(global));
  if (device_comm_) {
    // NCCL: CUDA gradients reduced where they are.
    bool all_device = true;
    for (auto* p : params)
      if (has_grad(p)) all_device = all_device && p->grad.device().is_cuda();
    if (all_device) {
      for (auto* p : params)
        if (has_grad(p)) {
          const size_t n = size_t(p->grad.numel());
          if (w != 1.f) backend_for(p->grad.device()).scale(p->grad.data(), w, n);
          device_comm_->allreduce_sum(p->grad.data(), n);
        }
      return;
    }
  }
  size_t total = 0;
  for (auto* p : params)
    if (has_grad(p)) total += size_t(p->grad.numel());
  bucket_.resize(total);
  size_t off = 0;
  for (auto* p : params)
    if (has_grad(p)) {
      pack(p->grad, bucket_.data() + off);
      off += size_t(p->grad.numel());
    }
  // Each rank's gradient is the mean over its shard: weighted by its share
  // of the global batch, the sum is the mean over the global batch.
  if (w != 1.f)
    for (float& g : bucket_) g *= w;
  comm_->allreduce_sum(bucket_.data(), bucket_.size());
  off = 0;
  for (auto* p : params)
    if (has_grad(p)) {
      unpack(bucket_.data() + off, p->grad);
      off += size_t(p->grad.numel());
    }
}

void DataParallel::average_buffers(const std::vector<Parameter*>& params) {
  if (size() == 1) return;
  size_t total = 0;
  for (auto* p : params)
    if (is_buffer(p)) total += size_t(p->value.numel());
  if (total == 0) return;
  bucket_.resize(total);
  size_t off = 0;
  for (auto* p : params)
    if (is_buffer(p)) {
      pack(p->value, bucket_.data() + off);
      off += size_t(p->value.numel());
    }
  comm_->allreduce_sum(bucket_.data(), bucket_.size());
  const float inv = 1.f / float(size());
  for (float& v : bucket_) v *= inv;
  off = 0;
  for (auto* p : params)
    if (is_buffer(p)) {
      unpack(bucket_.data() + off, p->value);
      off += size_t(p->value.numel());
    }
}

void DataParallel::synchronize_buffers(Model& model) { average_buffers(model.parameters()); }

void DataParallel::broadcast_parameters(const std::vector<Parameter*>& params) {
  size_t total = 0;
  for (auto* p : params) total += size_t(p->value.numel());
  bucket_.resize(total);
  size_t off = 0;
  if (is_root())
    for (auto* p : params) {
      pack(p->value, bucket_.data() + off);
      off += size_t(p->value.numel());
    }
  comm_->broadcast(bucket_.data(), bucket_.size() * sizeof(float), 0);
  off = 0;
  for (auto* p : params) {
    unpack(bucket_.data() + off, p->value);
    off += size_t(p->value.numel());
  }
}

bool DataParallel::all_ok(bool ok) {
  double v = ok ? 0.0 : 1.0;
  comm_->allreduce_sum(&v, 1);
  return v < 0.5;
}

std::string DataParallel::broadcast_string(const std::string& value) {
  uint64_t n = is_root() ? value.size() : 0;
  comm_->broadcast(&n, sizeof n, 0);
  std::string out = is_root() ? value : std::string(size_t(n), '\0');
  if (n > 0) comm_->broadcast(out.data(), size_t(n), 0);
  return out;
}

uint64_t DataParallel::gradient_bytes(const std::vector<Parameter*>& params) const {
  uint64_t n = 0;
  for (auto* p : params)
    if (has_grad(p)) n += uint64_t(p->grad.numel());
  return n * sizeof(float);
}

std::string DataParallel::describe(Model& model) const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "data-parallel: %d ranks over %s, %.3f MB of gradients allreduced per step (payload per rank)", size(),
                device_comm_ ? "mpi+nccl" : comm_->backend().c_str(), double(gradient_bytes(model.parameters())) / 1e6);
  std::string s = buf;
  if (sync_bn_layers_ > 0)
    s += "; synchronised BatchNorm in " + std::to_string(sync_bn_layers_) + " layers (3 allreduces each per step)";
  return s;
}

int local_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* e = std::getenv(v); e && *e) return std::atoi(e);
  return 0;
}

std::shared_ptr<DataParallel> make_data_parallel(std::string& device) {
  if (!mpi_compiled()) mpi_world();  // throws: no MPI in this build
  if (!launched_by_mpi())
    throw Error(
        "--distributed: this process was not started by an MPI launcher; run it as "
        "'mpirun -np N perceptra-cli ... --distributed' (or under srun)");
  auto world = mpi_world();
  std::shared_ptr<Communicator> dev;
  CudaProbe cuda = probe_cuda();
  const bool wants_gpu = device == "auto" || device == "cuda";
  if (cuda.device_count > 0 && (wants_gpu || device.rfind("cuda", 0) == 0)) {
    if (wants_gpu) device = "cuda:" + std::to_string(local_rank() % cuda.device_count);
    if (nccl_compiled()) dev = nccl_communicator(world, std::stoi(device.substr(device.find(':') + 1)));
  }
  return std::make_shared<DataParallel>(world, dev);
}

}  // namespace perceptra
