// A rank > 0 of a distributed sweep (distributed.h): trains the trials the
// coordinator hands out, unrecorded, and reports their progress to it. MPI
// is driven from this (the calling) thread only; the trainer threads talk to
// it through an outbox and a per-trial decision slot.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "core/store/machine.h"
#include "core/sweep/distributed.h"
#include "core/sweep/sweep_book.h"
#include "core/sweep/sweep_protocol.h"
#include "core/tensor/error.h"
#include "core/nn/model.h"
#include "core/train/trainer.h"

namespace perceptra {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace proto = sweep_protocol;

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

// Messages the trainer threads want sent, in order.
class Outbox {
 public:
  void push(const json& j) {
    std::lock_guard<std::mutex> lock(mu_);
    msgs_.push_back(j.dump());
  }
  std::vector<std::string> take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(msgs_, {});
  }

 private:
  std::mutex mu_;
  std::vector<std::string> msgs_;
};

// One trial's reporter, on its trainer thread: what RunRecorder would write
// goes to rank 0 instead, and after each epoch the trainer waits for rank
// 0's early-termination decision.
class RemoteTrialHook final : public Callback {
 public:
  RemoteTrialHook(int64_t trial, std::string metric, Outbox& out, double timeout_s)
      : trial_(trial), metric_(std::move(metric)), out_(out), timeout_s_(timeout_s) {}

  void on_train_begin(TrainContext& ctx, const TrainBegin& b) override {
    begin_ = last_flush_ = Clock::now();
    const PreparedData& data = ctx.data();
    json dataset = {{"name", data.source.name},
                    {"path", data.source.location},
                    {"kind", data.source.format},
                    {"num_classes", data.source.class_names.size()},
                    {"num_train", data.tv.train_indices.size()},
                    {"num_valid", data.tv.valid_indices.size()},
                    {"fingerprint", data.source.format + ":" + std::to_string(data.tv.train_data->size()) + ":" +
                                        std::to_string(data.tv.valid_data->size()) + ":" +
                                        std::to_string(data.source.class_names.size())},
                    {"info", {{"classes", data.source.class_names}, {"split", data.tv.split.to_json(false)}}}};
    out_.push({{"t", "begin"},
               {"trial", trial_},
               {"epochs", b.epochs},
               {"start_epoch", b.start_epoch},
               {"model", b.model_name},
               {"model_spec", ctx.model().spec()},
               {"parameters", b.parameters},
               {"device", b.device},
               {"run_dir", b.run_dir},
               {"config", ctx.config().to_json()},
               {"dataset", dataset}});
  }

  void on_batch_end(TrainContext&, const BatchEnd& b) override {
    add(b.step, b.epoch, "train_loss", b.loss);
    add(b.step, b.epoch, "lr", b.lr);
    // Every 2 s or 200 points: rank 0's record of a killed worker loses
    // seconds, and a message stays small.
    if (pending_.size() >= 200 || Clock::now() - last_flush_ >= std::chrono::seconds(2)) {
      pending_.push_back({b.step, b.epoch, "trained_seconds", trained_seconds()});
      flush("points");
    }
  }

  void on_epoch_end(TrainContext& ctx, const EpochEnd& e) override {
    for (auto& p : epoch_points(e)) pending_.push_back(p);
    pending_.push_back({e.step, e.epoch, "trained_seconds", trained_seconds()});
    json msg = {{"t", "epoch"},
                {"trial", trial_},
                {"epoch", e.epoch + 1},
                {"epochs", e.epochs},
                {"value", epoch_metric(e, metric_)},
                {"points", proto::points_json(pending_)}};
    pending_.clear();
    last_flush_ = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiting_ = true;
      decided_ = false;
    }
    out_.push(msg);
    std::unique_lock<std::mutex> lock(mu_);
    const bool got = cv_.wait_for(lock, std::chrono::duration<double>(timeout_s_), [&] { return decided_; });
    waiting_ = false;
    if (!got || abandoned_) {
      lost_ = !got;
      if (!got)
        ctx.request_stop(EndReason::Error, "no decision from the sweep coordinator (rank 0) for " +
                                               std::to_string(int(timeout_s_)) + " s");
      return;
    }
    if (stop_ && e.epoch + 1 < e.epochs && !ctx.stop_requested()) {
      early_ = true;
      reason_ = reason_in_;
      ctx.request_stop(EndReason::Stopped, "early-terminated (" + reason_ + ")");
    }
  }

  void on_train_end(TrainContext&, TrainEnd& end) override {
    if (begin_) pending_.push_back({end.steps, end.epochs_completed, "trained_seconds", trained_seconds()});
    flush("points");
  }

  // From the worker's thread.
  void decide(bool stop, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = stop;
    reason_in_ = reason;
    decided_ = true;
    cv_.notify_all();
  }
  // The worker is leaving: an epoch waiting for a decision continues (and
  // the trainer, already told to stop, ends).
  void abandon() {
    std::lock_guard<std::mutex> lock(mu_);
    abandoned_ = decided_ = true;
    cv_.notify_all();
  }

  // Read after the trainer finished.
  bool early() const { return early_; }
  bool lost() const { return lost_; }
  bool begun() const { return begin_.has_value(); }

 private:
  void add(int64_t step, int64_t epoch, const char* name, double v) {
    if (std::isfinite(v)) pending_.push_back({step, epoch, name, v});
  }
  void flush(const char* type) {
    if (pending_.empty()) return;
    out_.push({{"t", type}, {"trial", trial_}, {"points", proto::points_json(pending_)}});
    pending_.clear();
    last_flush_ = Clock::now();
  }
  double trained_seconds() const {
    return begin_ ? std::chrono::duration<double>(Clock::now() - *begin_).count() : 0.0;
  }

  int64_t trial_;
  std::string metric_;
  Outbox& out_;
  double timeout_s_;
  std::optional<Clock::time_point> begin_;
  Clock::time_point last_flush_ = Clock::now();
  std::vector<MetricPoint> pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool waiting_ = false, decided_ = false, stop_ = false, abandoned_ = false;
  std::string reason_in_, reason_;
  bool early_ = false, lost_ = false;
};

struct RunningTrial {
  std::unique_ptr<Trainer> trainer;
  std::shared_ptr<RemoteTrialHook> hook;
};

std::string end_state(const RemoteTrialHook& hook, const TrainEnd& end) {
  if (hook.early()) return "early_terminated";
  switch (end.reason) {
    case EndReason::Done:
      return "finished";
    case EndReason::Stopped:
      return "stopped";
    case EndReason::Diverged:
      return "diverged";
    case EndReason::Error:
      return hook.lost() ? "interrupted" : "failed";
  }
  return "failed";
}

}  // namespace

SweepWorkerResult run_sweep_worker(Communicator& comm, const SweepWorkerOptions& o) {
  if (comm.rank() == 0) throw Error("run_sweep_worker: rank 0 coordinates the sweep (SweepRunner::run)");
  if (o.parallel < 1 || o.parallel > 256)
    throw InputError("sweep", "parallel must be in [1, 256], got " + std::to_string(o.parallel));
  const double timeout_s = collective_timeout_seconds();
  const auto timeout = std::chrono::duration<double>(timeout_s);
  // Often enough that rank 0 never mistakes a busy worker for a dead one.
  const auto heartbeat = std::chrono::duration<double>(std::min(5.0, timeout_s / 4));
  const int total_threads = o.threads > 0 ? o.threads : std::max(1, int(std::thread::hardware_concurrency()));
  const int per_trial = std::max(1, total_threads / o.parallel);

  Outbox outbox;
  std::map<int64_t, RunningTrial> running;
  SweepWorkerResult result;
  bool done = false, stopping = false;
  auto last_from_root = Clock::now(), last_sent = Clock::now();
  auto send = [&](const json& j) {
    comm.send(0, j.dump());
    last_sent = Clock::now();
  };
  send({{"t", "hello"},
        {"slots", o.parallel},
        {"host", host_name()},
        {"pid", int64_t(getpid())},
        {"threads", per_trial}});

  auto stop_all = [&] {
    for (auto& [_, r] : running) {
      r.trainer->stop();
      r.hook->abandon();
    }
  };

  auto launch = [&](const json& m) {
    const int64_t trial = m.at("trial").get<int64_t>();
    try {
      SweepTrial st;
      st.index = trial;
      st.params = m.value("params", json::object());
      st.config = m.at("config");
      TrainConfig cfg = trial_config(st);  // InputError("trial N", ...) as in a local sweep
      // Unrecorded on this rank: rank 0 records the run from the reports.
      cfg.db_path = "-";
      cfg.ledger = false;
      cfg.notify.command.clear();
      if (!o.out_dir.empty()) cfg.out_dir = o.out_dir;
      if (!o.device.empty()) cfg.device = o.device;
      if (m.value("split_threads", true)) cfg.threads = per_trial;  // unless the base config sets threads
      cfg.validate();
      RunningTrial r;
      r.trainer = std::make_unique<Trainer>(cfg);
      r.hook = std::make_shared<RemoteTrialHook>(trial, m.value("metric", "valid_accuracy"), outbox, timeout_s);
      r.trainer->add_callback(r.hook);
      r.trainer->start();
      running.emplace(trial, std::move(r));
    } catch (const std::exception& e) {
      send({{"t", "end"}, {"trial", trial}, {"status", "failed"}, {"message", e.what()}});
    }
  };

  while (true) {
    bool progressed = false;
    if (o.cancel && o.cancel->load() && !stopping) {
      stopping = true;
      stop_all();
    }
    while (auto m = comm.try_recv()) {
      progressed = true;
      if (m->source != 0) continue;  // only the coordinator talks to workers
      last_from_root = Clock::now();
      json j = sweep_protocol::parse(m->bytes, m->source);
      const std::string t = j["t"];
      if (t == "trial") {
        if (stopping)
          send({{"t", "declined"}, {"trial", j.at("trial")}});
        else
          launch(j);
      } else if (t == "decision") {
        auto it = running.find(j.at("trial").get<int64_t>());
        if (it != running.end()) it->second.hook->decide(j.value("stop", false), j.value("reason", ""));
      } else if (t == "stop") {
        stopping = true;
        stop_all();
      } else if (t == "done") {
        done = true;
      }
    }
    for (auto& s : outbox.take()) {
      comm.send(0, s);
      last_sent = Clock::now();
      progressed = true;
    }
    for (auto it = running.begin(); it != running.end();) {
      RunningTrial& r = it->second;
      r.trainer->events().pop_all();  // progress goes to rank 0 through the hook
      if (!r.trainer->finished()) {
        ++it;
        continue;
      }
      r.trainer->wait();
      for (auto& s : outbox.take()) comm.send(0, s);  // the trial's last points first
      TrainEnd end = r.trainer->result().value_or(TrainEnd{});
      send({{"t", "end"},
            {"trial", it->first},
            {"status", end_state(*r.hook, end)},
            {"message", end.message},
            {"begun", r.hook->begun()}});
      ++result.trials;
      it = running.erase(it);
      progressed = true;
    }
    if (running.empty() && done) break;
    if (running.empty() && stopping && o.cancel && o.cancel->load()) {
      // Stopped here (a signal): say so, so rank 0 hands this rank nothing more.
      send({{"t", "bye"}});
      break;
    }
    const auto now = Clock::now();
    if (now - last_sent >= heartbeat) send({{"t", "alive"}});
    if (running.empty() && now - last_from_root > timeout)
      throw CommunicationError("sweep worker rank " + std::to_string(comm.rank()) +
                               ": no word from the coordinator (rank 0) for " + std::to_string(int(timeout_s)) + " s");
    if (!progressed) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.status = stopping ? "stopped" : "done";
  return result;
}

}  // namespace perceptra
