// Builds without MPI: --distributed is unavailable, said clearly.
#include "core/dist/communicator.h"

namespace perceptra {

bool mpi_compiled() { return false; }

std::shared_ptr<Communicator> mpi_world() {
  throw Error(
      "--distributed is unavailable: this build of Perceptra has no MPI (install "
      "libopenmpi-dev, e.g. with scripts/setup, and rebuild)");
}

}  // namespace perceptra
