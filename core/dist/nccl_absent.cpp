// Builds without CUDA or without NCCL.
#include "core/dist/nccl_communicator.h"

namespace perceptra {

bool nccl_compiled() { return false; }

std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator>, int) {
  throw Error(
      "NCCL is unavailable: this build has no CUDA/NCCL (GPU ranks need a CUDA build with NCCL, "
      "e.g. from /usr/local/cuda)");
}

}  // namespace perceptra
