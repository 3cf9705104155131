#include "core/train/event_queue.h"

namespace perceptra {

void EventQueue::push(TrainEvent e) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (std::holds_alternative<BatchEnd>(e)) {
      if (batch_events_ >= max_batch_events_) {
        for (auto it = q_.begin(); it != q_.end(); ++it) {
          if (std::holds_alternative<BatchEnd>(*it)) {
            q_.erase(it);
            --batch_events_;
            ++dropped_;
            break;
          }
        }
      }
      ++batch_events_;
    }
    q_.push_back(std::move(e));
  }
  cv_.notify_all();
}

std::optional<TrainEvent> EventQueue::try_pop() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (q_.empty()) return std::nullopt;
  TrainEvent e = std::move(q_.front());
  q_.pop_front();
  if (std::holds_alternative<BatchEnd>(e)) --batch_events_;
  return e;
}

std::vector<TrainEvent> EventQueue::pop_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<TrainEvent> out(std::make_move_iterator(q_.begin()), std::make_move_iterator(q_.end()));
  q_.clear();
  batch_events_ = 0;
  return out;
}

std::optional<TrainEvent> EventQueue::wait_pop(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty(); })) return std::nullopt;
  TrainEvent e = std::move(q_.front());
  q_.pop_front();
  if (std::holds_alternative<BatchEnd>(e)) --batch_events_;
  return e;
}

size_t EventQueue::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return q_.size();
}

size_t EventQueue::dropped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dropped_;
}

}  // namespace perceptra
