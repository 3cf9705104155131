#pragma once
// The seam for data-parallel training. core/dist implements it over MPI
// (CPU) and NCCL (CUDA); the Trainer only calls it, so core/train never
// sees a communicator.
//
// Every process (rank) runs a Trainer on the same prepared run; each trains
// on its shard of every global batch, and combine_step() turns the ranks'
// results into the global batch's (loss, accuracy, mean gradient) between
// backward and the optimizer step (TrainStep's gradient hook). All ranks
// then take the same step, validate the same weights and decide stops the
// same way. Rank 0 alone records the run (store, folder, checkpoints).
#include <cstdint>
#include <string>

namespace perceptra {

class Model;
struct Batch;
struct StepResult;

class DataParallelGroup {
 public:
  virtual ~DataParallelGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // This rank's rows of a global batch (may be empty when the batch has
  // fewer rows than there are ranks).
  virtual Batch shard(const Batch& global) = 0;
  // After this rank's forward/backward on its shard (`has_gradients` false
  // when the shard was empty or its loss not finite): `step` becomes the
  // global batch's loss, correct count and size, and the gradients the
  // global batch's mean when that loss is finite. `stop` is this rank's
  // wish to stop; the result says whether any rank wishes to, so all stop
  // after the same batch. Throws CommunicationError when a rank is lost.
  virtual bool combine_step(Model& model, StepResult& step, bool has_gradients, int64_t global_samples, bool stop) = 0;
  // Before validation and checkpoints: buffers (BatchNorm running
  // statistics) averaged over the ranks.
  virtual void synchronize_buffers(Model& model) = 0;
  // One log line: ranks, transport, gradient bytes per step.
  virtual std::string describe(Model& model) const = 0;
};

}  // namespace perceptra
