// The NCCL communicator (CUDA builds with NCCL). Device buffers only; each
// call is enqueued on the communicator's own stream and waited for, with the
// same deadline as MPI's collectives (ncclCommAbort on timeout, so a lost
// rank gives a CommunicationError instead of a hang).
#include "core/dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

namespace perceptra {

namespace {

void check_cuda(cudaError_t r, const char* what) {
  if (r != cudaSuccess) throw Error(std::string("CUDA ") + what + " failed: " + cudaGetErrorString(r));
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<Communicator> bootstrap, int device)
      : boot_(std::move(bootstrap)), device_(device), timeout_(collective_timeout_seconds()) {
    ncclUniqueId id{};
    if (boot_->rank() == 0) check(ncclGetUniqueId(&id), "GetUniqueId");
    boot_->broadcast(&id, sizeof id, 0);
    check_cuda(cudaSetDevice(device_), "SetDevice");
    check(ncclCommInitRank(&comm_, boot_->size(), id, boot_->rank()), "CommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "StreamCreate");
  }
  ~NcclCommunicator() override {
    if (stream_) cudaStreamDestroy(stream_);
    if (comm_) ncclCommDestroy(comm_);
  }
  int rank() const override { return boot_->rank(); }
  int size() const override { return boot_->size(); }
  std::string backend() const override { return "nccl"; }

  void allreduce_sum(float* data, size_t count) override {
    bytes_ += count * sizeof(float);
    check(ncclAllReduce(data, data, count, ncclFloat, ncclSum, comm_, stream_), "AllReduce");
    wait("allreduce");
  }
  void allreduce_sum(double* data, size_t count) override {
    bytes_ += count * sizeof(double);
    check(ncclAllReduce(data, data, count, ncclDouble, ncclSum, comm_, stream_), "AllReduce");
    wait("allreduce");
  }
  void broadcast(void* data, size_t bytes, int root) override {
    bytes_ += bytes;
    check(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_), "Broadcast");
    wait("broadcast");
  }
  [[noreturn]] void abort(int code) override {
    boot_->abort(code);
    std::_Exit(code);  // not reached: the bootstrap's abort does not return
  }

 private:
  void check(ncclResult_t r, const char* what) {
    if (r != ncclSuccess) throw CommunicationError(std::string("NCCL ") + what + " failed: " + ncclGetErrorString(r));
  }
  void wait(const char* what) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_);
    while (true) {
      cudaError_t q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) check_cuda(q, "StreamQuery");
      ncclResult_t async = ncclSuccess;
      check(ncclCommGetAsyncError(comm_, &async), "CommGetAsyncError");
      if (async != ncclSuccess) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        check(async, what);
      }
      if (Clock::now() > deadline) {
        ncclCommAbort(comm_);
        comm_ = nullptr;
        throw CommunicationError("NCCL " + std::string(what) + " on rank " + std::to_string(rank()) +
                                 ": no answer from the other ranks for " + std::to_string(int(timeout_)) +
                                 " s (a rank died or hangs; PERCEPTRA_DIST_TIMEOUT sets the limit)");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  std::shared_ptr<Communicator> boot_;
  int device_ = 0;
  double timeout_ = 300;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

bool nccl_compiled() { return true; }

std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator> bootstrap, int device) {
  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess || count == 0)
    throw Error(std::string("NCCL: no CUDA device on this machine") +
                (rc != cudaSuccess ? std::string(" (") + cudaGetErrorString(rc) + ")" : ""));
  if (device < 0 || device >= count)
    throw Error("NCCL: CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) +
                " found)");
  return std::make_shared<NcclCommunicator>(std::move(bootstrap), device);
}

}  // namespace perceptra
