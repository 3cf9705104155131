#pragma once
// Collective communication between the processes (ranks) of a data-parallel
// run. Perceptra starts and coordinates no processes itself: a launcher does
// (mpirun from Open MPI, a cluster's srun). Implementations: MPI (host
// buffers), NCCL (CUDA device buffers, bootstrapped over MPI) and a local
// one (a single process).
//
// Every rank makes the same calls in the same order with the same counts,
// as in MPI. No call waits forever: a collective that another rank does not
// join within the timeout (PERCEPTRA_DIST_TIMEOUT seconds, default 300)
// throws CommunicationError naming the operation, as does one that fails
// because a rank died.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/train/communication_error.h"

namespace perceptra {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "mpi", "nccl", "local"

  // In-place element-wise sum over all ranks.
  virtual void allreduce_sum(float* data, size_t count) = 0;
  virtual void allreduce_sum(double* data, size_t count) = 0;
  // Copies `bytes` from rank `root` to every rank.
  virtual void broadcast(void* data, size_t bytes, int root) = 0;
  // Point-to-point byte messages (the distributed sweep's protocol,
  // core/sweep/distributed.h). Messages between two ranks arrive in the
  // order they were sent. send() returns once the message is on its way or
  // delivered; it throws CommunicationError when the other rank takes none
  // within the timeout. try_recv() takes the next message from any rank, or
  // returns none at once. Backends without it (NCCL) throw Error.
  struct Message {
    int source = -1;
    std::string bytes;
  };
  virtual void send(int dest, const std::string& bytes);
  virtual std::optional<Message> try_recv();
  // try_recv() polled until a message arrives or `timeout` passes (none).
  std::optional<Message> recv(std::chrono::milliseconds timeout);

  // Ends every rank of the job now: after an error on one rank that the
  // others would otherwise wait for. Does not return.
  [[noreturn]] virtual void abort(int code) = 0;

  // Payload bytes this rank passed to allreduce/broadcast so far (a ring
  // allreduce sends and receives 2 (N-1)/N of it per rank).
  uint64_t bytes_communicated() const { return bytes_; }

 protected:
  uint64_t bytes_ = 0;
};

// One process: sums are the identity, broadcast does nothing, a message
// sent to rank 0 is received by itself.
std::shared_ptr<Communicator> local_communicator();

// `n` ranks in one process, one communicator per thread, for testing
// without mpirun: point-to-point messages and collectives (sums in double,
// the collective timeout as MPI's).
std::vector<std::shared_ptr<Communicator>> thread_group(int n);

// Whether this build has MPI (--distributed needs it).
bool mpi_compiled();
// The MPI world of this process, initialised once (MPI_THREAD_SERIALIZED:
// preparation runs on the main thread, training on the trainer thread,
// never both at once) and finalised at exit. Throws Error saying that
// --distributed is unavailable in builds without MPI.
std::shared_ptr<Communicator> mpi_world();
// True when an MPI launcher started this process (mpirun, srun).
bool launched_by_mpi();
// The collective timeout: PERCEPTRA_DIST_TIMEOUT seconds (default 300).
double collective_timeout_seconds();

}  // namespace perceptra
