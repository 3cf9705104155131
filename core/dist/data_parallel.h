#pragma once
// Data-parallel training over a Communicator: the DataParallelGroup the
// Trainer calls (core/train/data_parallel_group.h). Every rank holds the
// same model, trains on its shard of every global batch, and the gradients
// are averaged, weighted by shard size, before each optimizer step: all
// ranks take the step one process would take on the whole batch.
//
//   auto dp = make_data_parallel(config.device);  // MPI world (+ NCCL for GPUs)
//   auto run = prepare_distributed(*dp, ...);      // distributed_run.h
//   Trainer t(run); t.set_data_parallel(dp); t.start();
//
// Gradients travel as one flat float32 bucket per step (CPU tensors packed
// directly, CUDA tensors through the host with MPI, or reduced in place on
// the device with NCCL). BatchNorm: by default each rank normalises with
// its own shard's batch statistics (as PyTorch DDP without SyncBatchNorm);
// with enable_sync_batchnorm (--sync-bn) with the global batch's, allreduced
// in every training forward and backward. The running statistics are
// averaged before every validation, so all ranks validate, and rank 0
// saves, the same model.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dist/communicator.h"
#include "core/train/data_parallel_group.h"

namespace perceptra {

struct Parameter;

// Rows [begin, begin + count) of a global batch of `global` samples that
// rank `rank` of `ranks` trains on: contiguous, sizes differ by at most one.
struct ShardRange {
  int64_t begin = 0, count = 0;
};
ShardRange shard_of(int64_t global, int rank, int ranks);

class DataParallel final : public DataParallelGroup {
 public:
  // `comm` carries host buffers (statistics, broadcasts, CPU gradients);
  // `device_comm` (NCCL), when given, reduces CUDA gradients on the device.
  explicit DataParallel(std::shared_ptr<Communicator> comm, std::shared_ptr<Communicator> device_comm = nullptr);

  int rank() const override { return comm_->rank(); }
  int size() const override { return comm_->size(); }
  bool is_root() const { return rank() == 0; }
  Communicator& comm() { return *comm_; }

  Batch shard(const Batch& global) override;
  bool combine_step(Model& model, StepResult& step, bool has_gradients, int64_t global_samples, bool stop) override;
  void synchronize_buffers(Model& model) override;
  std::string describe(Model& model) const override;

  // The pieces, public for tests:
  // grad <- sum over ranks of (local_r / global) * grad_r for the trainable
  // parameters with a gradient (the same list on every rank).
  void average_gradients(const std::vector<Parameter*>& params, int64_t local, int64_t global);
  // Buffers (no gradient: BatchNorm running statistics) averaged over ranks.
  void average_buffers(const std::vector<Parameter*>& params);
  // Rank 0's values of every parameter and buffer on all ranks.
  void broadcast_parameters(const std::vector<Parameter*>& params);
  // True on every rank when `ok` is true on every rank.
  bool all_ok(bool ok);
  // Rank 0's string on every rank (the others pass anything).
  std::string broadcast_string(const std::string& value);
  // SyncBN: the BatchNorm layers of `model` (Residual branches included)
  // take their training statistics over all ranks. Returns how many. Every
  // rank needs rows of every batch: InputError when a batch (the last of an
  // epoch of `train_samples`) would have fewer rows than there are ranks.
  int enable_sync_batchnorm(Model& model, int64_t train_samples, int batch_size, int64_t max_batches);
  // Bytes of gradients one step allreduces.
  uint64_t gradient_bytes(const std::vector<Parameter*>& params) const;

 private:
  std::shared_ptr<Communicator> comm_, device_comm_;
  std::vector<float> bucket_;
  int sync_bn_layers_ = 0;
};

// This process's rank among the ranks on its machine (Open MPI, Slurm; 0
// when unknown): the GPU it takes.
int local_rank();
// The data-parallel group for a device request: the MPI world, plus NCCL
// for gradients when the request resolves to CUDA devices and NCCL is
// compiled in. "auto"/"cuda" become this rank's GPU (cuda:<local rank>)
// when there are GPUs. Throws Error when this build has no MPI or the
// process was not started by an MPI launcher.
std::shared_ptr<DataParallel> make_data_parallel(std::string& device);

}  // namespace perceptra
