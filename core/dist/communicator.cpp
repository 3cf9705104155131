#include "core/dist/communicator.h"

#include <cstdlib>
#include <string>

namespace perceptra {

namespace {
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void allreduce_sum(float*, size_t count) override { bytes_ += count * sizeof(float); }
  void allreduce_sum(double*, size_t count) override { bytes_ += count * sizeof(double); }
  void broadcast(void*, size_t bytes, int) override { bytes_ += bytes; }
  [[noreturn]] void abort(int code) override { std::_Exit(code); }
};
}  // namespace

std::shared_ptr<Communicator> local_communicator() { return std::make_shared<LocalCommunicator>(); }

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (const char* e = std::getenv(v); e && *e) return true;
  return false;
}

double collective_timeout_seconds() {
  if (const char* e = std::getenv("PERCEPTRA_DIST_TIMEOUT"); e && *e) {
    char* end = nullptr;
    double v = std::strtod(e, &end);
    if (end && *end == '\0' && v > 0) return v;
    throw Error("PERCEPTRA_DIST_TIMEOUT: expected a positive number of seconds, got '" + std::string(e) + "'");
  }
  return 300;
}

}  // namespace perceptra
