#pragma once
// A thread-safe FIFO of TrainEvents: the trainer thread pushes value copies,
// any other thread polls (try_pop, pop_all) or waits with a timeout. Batch
// events are dropped (oldest first) past a cap so a consumer that never
// polls cannot grow memory without bound; other events are never dropped.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <vector>

#include "core/train/events.h"

namespace perceptra {

class EventQueue {
 public:
  explicit EventQueue(size_t max_batch_events = 100000) : max_batch_events_(max_batch_events) {}
  void push(TrainEvent e);
  std::optional<TrainEvent> try_pop();
  std::vector<TrainEvent> pop_all();
  // Waits up to timeout for an event; nullopt on timeout.
  std::optional<TrainEvent> wait_pop(std::chrono::milliseconds timeout);
  size_t size() const;
  size_t dropped() const;  // batch events dropped because of the cap

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<TrainEvent> q_;
  size_t batch_events_ = 0, max_batch_events_, dropped_ = 0;
};

}  // namespace perceptra
