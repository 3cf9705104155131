// The MPI communicator (compiled when CMake found MPI). Collectives are the
// non-blocking ones (MPI_Iallreduce, MPI_Ibcast) completed by polling with a
// deadline, so a rank that died or hangs gives a CommunicationError after
// the timeout instead of a process waiting forever.
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/dist/communicator.h"

namespace perceptra {

namespace {

std::string mpi_error_text(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  return std::string(text, size_t(len));
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS)
    throw CommunicationError(std::string("MPI ") + what + " failed (did another rank stop?): " + mpi_error_text(rc));
}

// MPI counts are int: large buffers go in chunks.
constexpr int kMessageTag = 0x5eed;
constexpr size_t kChunk = size_t(std::numeric_limits<int>::max() / 2);

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() : timeout_(collective_timeout_seconds()) {
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "Comm_size");
    // Errors come back as codes (turned into exceptions) instead of aborting.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void allreduce_sum(float* data, size_t count) override {
    bytes_ += count * sizeof(float);
    for (size_t off = 0; off < count; off += kChunk) {
      MPI_Request req;
      check(MPI_Iallreduce(MPI_IN_PLACE, data + off, int(std::min(kChunk, count - off)), MPI_FLOAT, MPI_SUM,
                           MPI_COMM_WORLD, &req),
            "Iallreduce");
      wait(req, "allreduce");
    }
  }
  void allreduce_sum(double* data, size_t count) override {
    bytes_ += count * sizeof(double);
    for (size_t off = 0; off < count; off += kChunk) {
      MPI_Request req;
      check(MPI_Iallreduce(MPI_IN_PLACE, data + off, int(std::min(kChunk, count - off)), MPI_DOUBLE, MPI_SUM,
                           MPI_COMM_WORLD, &req),
            "Iallreduce");
      wait(req, "allreduce");
    }
  }
  void broadcast(void* data, size_t bytes, int root) override {
    bytes_ += bytes;
    auto* p = static_cast<char*>(data);
    for (size_t off = 0; off < bytes; off += kChunk) {
      MPI_Request req;
      check(MPI_Ibcast(p + off, int(std::min(kChunk, bytes - off)), MPI_BYTE, root, MPI_COMM_WORLD, &req), "Ibcast");
      wait(req, "broadcast");
    }
  }
  // Point-to-point messages go on a tag of their own, so they never match
  // anything else; one message at most INT_MAX bytes.
  void send(int dest, const std::string& bytes) override {
    if (dest < 0 || dest >= size_)
      throw Error("send: rank " + std::to_string(dest) + " does not exist (" + std::to_string(size_) + " ranks)");
    if (bytes.size() > size_t(std::numeric_limits<int>::max()))
      throw Error("send: message of " + std::to_string(bytes.size()) + " bytes is too large");
    bytes_ += bytes.size();
    MPI_Request req;
    check(MPI_Isend(bytes.data(), int(bytes.size()), MPI_BYTE, dest, kMessageTag, MPI_COMM_WORLD, &req), "Isend");
    wait(req, "send");
  }
  std::optional<Message> try_recv() override {
    int flag = 0;
    MPI_Status st;
    check(MPI_Iprobe(MPI_ANY_SOURCE, kMessageTag, MPI_COMM_WORLD, &flag, &st), "Iprobe");
    if (!flag) return std::nullopt;
    int count = 0;
    check(MPI_Get_count(&st, MPI_BYTE, &count), "Get_count");
    Message m;
    m.source = st.MPI_SOURCE;
    m.bytes.resize(size_t(std::max(0, count)));
    // The probed message is already here: this receive completes at once.
    check(MPI_Recv(m.bytes.data(), count, MPI_BYTE, st.MPI_SOURCE, kMessageTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
          "Recv");
    return m;
  }
  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  // Polls until the request completes or the deadline passes. The sleep
  // grows from 0 to 1 ms: a step's allreduce usually completes within the
  // first polls, and a long wait (a slower rank validating) costs no core.
  void wait(MPI_Request& req, const char* what) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_);
    int done = 0;
    for (int i = 0;; ++i) {
      check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
      if (done) return;
      if (Clock::now() > deadline) {
        // The request stays pending: this process must end (abort), which
        // the caller does after recording the run as interrupted.
        throw CommunicationError("MPI " + std::string(what) + " on rank " + std::to_string(rank_) + " of " +
                                 std::to_string(size_) + ": no answer from the other ranks for " +
                                 std::to_string(int(timeout_)) +
                                 " s (a rank died or hangs; PERCEPTRA_DIST_TIMEOUT sets the limit)");
      }
      if (i > 200) std::this_thread::sleep_for(std::chrono::microseconds(std::min(1000, (i - 200) * 10)));
    }
  }

  int rank_ = 0, size_ = 1;
  double timeout_ = 300;
};

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

bool mpi_compiled() { return true; }

std::shared_ptr<Communicator> mpi_world() {
  static std::once_flag once;
  static std::shared_ptr<Communicator> world;
  static std::string failure;
  std::call_once(once, [] {
    try {
      int initialized = 0;
      MPI_Initialized(&initialized);
      if (!initialized) {
        int provided = 0;
        check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "Init_thread");
        if (provided < MPI_THREAD_SERIALIZED)
          throw Error("MPI: this MPI library cannot be called from the training thread (no MPI_THREAD_SERIALIZED)");
        std::atexit(finalize_at_exit);
      }
      world = std::make_shared<MpiCommunicator>();
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  if (!world) throw Error(failure.empty() ? "MPI: initialisation failed" : failure);
  return world;
}

}  // namespace perceptra
