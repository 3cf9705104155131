#include "core/dist/communicator.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace perceptra {

void Communicator::send(int, const std::string&) {
  throw Error("the " + backend() + " communicator has no point-to-point messages");
}

std::optional<Communicator::Message> Communicator::try_recv() {
  throw Error("the " + backend() + " communicator has no point-to-point messages");
}

std::optional<Communicator::Message> Communicator::recv(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int i = 0;; ++i) {
    if (auto m = try_recv()) return m;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    // Spin briefly, then sleep up to 2 ms: a reply usually comes at once,
    // a long wait costs no core.
    if (i > 100) std::this_thread::sleep_for(std::chrono::microseconds(std::min(2000, (i - 100) * 20)));
  }
}

namespace {

void check_rank(int dest, int size) {
  if (dest < 0 || dest >= size)
    throw Error("send: rank " + std::to_string(dest) + " does not exist (" + std::to_string(size) + " ranks)");
}

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "local"; }
  void allreduce_sum(float*, size_t count) override { bytes_ += count * sizeof(float); }
  void allreduce_sum(double*, size_t count) override { bytes_ += count * sizeof(double); }
  void broadcast(void*, size_t bytes, int) override { bytes_ += bytes; }
  void send(int dest, const std::string& bytes) override {
    check_rank(dest, 1);
    bytes_ += bytes.size();
    inbox_.push_back({0, bytes});
  }
  std::optional<Message> try_recv() override {
    if (inbox_.empty()) return std::nullopt;
    Message m = std::move(inbox_.front());
    inbox_.pop_front();
    return m;
  }
  [[noreturn]] void abort(int code) override { std::_Exit(code); }

 private:
  std::deque<Message> inbox_;
};

// Mailboxes and the collective rendezvous shared by a thread group.
struct Mailboxes {
  std::mutex mu;
  std::vector<std::deque<Communicator::Message>> inbox;
  // Collectives: ranks add into `acc` in arrival order (double, so the
  // order does not matter at float precision); the last one publishes it
  // as `result` and opens the next round once everyone has copied it.
  std::condition_variable cv;
  int arrived = 0, leaving = 0;
  uint64_t round = 0;
  std::vector<double> acc, result;
  std::string bytes;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<Mailboxes> boxes, int rank, int size)
      : boxes_(std::move(boxes)), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "threads"; }
  void allreduce_sum(float* data, size_t count) override {
    bytes_ += count * sizeof(float);
    std::vector<double> d(data, data + count);
    collective(d.data(), count, nullptr, 0, -1);
    for (size_t i = 0; i < count; ++i) data[i] = float(d[i]);
  }
  void allreduce_sum(double* data, size_t count) override {
    bytes_ += count * sizeof(double);
    collective(data, count, nullptr, 0, -1);
  }
  void broadcast(void* data, size_t bytes, int root) override {
    check_rank(root, size_);
    bytes_ += bytes;
    collective(nullptr, 0, static_cast<char*>(data), bytes, root);
  }
  void send(int dest, const std::string& bytes) override {
    check_rank(dest, size_);
    bytes_ += bytes.size();
    std::lock_guard<std::mutex> lock(boxes_->mu);
    boxes_->inbox[size_t(dest)].push_back({rank_, bytes});
  }
  std::optional<Message> try_recv() override {
    std::lock_guard<std::mutex> lock(boxes_->mu);
    auto& box = boxes_->inbox[size_t(rank_)];
    if (box.empty()) return std::nullopt;
    Message m = std::move(box.front());
    box.pop_front();
    return m;
  }
  [[noreturn]] void abort(int code) override { std::_Exit(code); }

 private:
  // One round of an allreduce (sums) or broadcast (root's bytes), with the
  // collective timeout as MPI's.
  void collective(double* sums, size_t count, char* bytes, size_t nbytes, int root) {
    Mailboxes& b = *boxes_;
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(collective_timeout_seconds());
    std::unique_lock<std::mutex> lock(b.mu);
    auto wait = [&](auto pred) {
      if (!b.cv.wait_until(lock, deadline, pred))
        throw CommunicationError("threads collective on rank " + std::to_string(rank_) +
                                 ": no answer from the other ranks");
    };
    wait([&] { return b.leaving == 0; });  // the previous round is over
    if (b.arrived == 0) b.acc.assign(count, 0.0);
    for (size_t i = 0; i < count && i < b.acc.size(); ++i) b.acc[i] += sums[i];
    if (rank_ == root) b.bytes.assign(bytes, nbytes);
    const uint64_t mine = b.round;
    if (++b.arrived == size_) {
      b.result = b.acc;
      b.arrived = 0;
      b.leaving = size_;
      ++b.round;
      b.cv.notify_all();
    } else {
      wait([&] { return b.round != mine; });
    }
    for (size_t i = 0; i < count && i < b.result.size(); ++i) sums[i] = b.result[i];
    if (root >= 0 && rank_ != root)
      std::copy(b.bytes.begin(), b.bytes.begin() + long(std::min(nbytes, b.bytes.size())), bytes);
    if (--b.leaving == 0) b.cv.notify_all();
  }
  std::shared_ptr<Mailboxes> boxes_;
  int rank_, size_;
};

}  // namespace

std::shared_ptr<Communicator> local_communicator() { return std::make_shared<LocalCommunicator>(); }

std::vector<std::shared_ptr<Communicator>> thread_group(int n) {
  if (n < 1) throw Error("thread_group: needs at least one rank, got " + std::to_string(n));
  auto boxes = std::make_shared<Mailboxes>();
  boxes->inbox.resize(size_t(n));
  std::vector<std::shared_ptr<Communicator>> out;
  for (int r = 0; r < n; ++r) out.push_back(std::make_shared<ThreadCommunicator>(boxes, r, n));
  return out;
}

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
