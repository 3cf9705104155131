#pragma once
// NCCL between CUDA devices (compiled in CUDA builds where NCCL is found,
// e.g. /usr/local/cuda): allreduce and broadcast take DEVICE pointers. Its
// unique id travels over a bootstrap communicator (MPI); one device per rank.
#include <memory>

#include "core/dist/communicator.h"

namespace perceptra {

bool nccl_compiled();
// Throws Error when NCCL is not compiled in, or when the device or the
// communicator cannot be set up (the message says which).
std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator> bootstrap, int device);

}  // namespace perceptra
