#include "core/train/trainer.h"

#include <new>

#include "core/tensor/error.h"
#include "core/train/trainer_job.h"

namespace perceptra {

namespace {

// Never throws: it runs in the trainer thread's last handler, where an
// exception (another bad_alloc while memory is short) would be std::terminate.
TrainEnd error_end(const char* message) noexcept {
  TrainEnd end;
  end.reason = EndReason::Error;
  try {
    end.message = message;
  } catch (...) {}  // the end without its message is still a clean error
  return end;
}

}  // namespace

std::string out_of_memory_message(const std::string& where) {
  return "out of memory " + where +
         ": the model, batch size or data needs more memory than is available "
         "(try a smaller batch size or model, or free memory); the run is recorded as failed and can be "
         "resumed from its last checkpoint";
}

Trainer::Trainer(std::shared_ptr<PreparedRun> run) : run_(std::move(run)) {
  PCHECK(run_ && run_->model, "Trainer: no prepared run");
  config_ = run_->config;
}

Trainer::Trainer(TrainConfig config) : config_(std::move(config)) { config_.validate(); }

Trainer::Trainer(ResumeRequest request) : config_(request.config), resume_(std::move(request)) {}

std::unique_ptr<Trainer> Trainer::from_run(int64_t run_id, const std::string& db_path, const ResumeOptions& options) {
  return std::make_unique<Trainer>(resume_request(run_id, db_path, options));
}

Trainer::~Trainer() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void Trainer::add_callback(std::shared_ptr<Callback> callback) {
  PCHECK(!started_, "Trainer::add_callback: already started");
  callbacks_.push_back(std::move(callback));
}

void Trainer::set_snapshot_hook(const std::string& kind, int every_batches, SnapshotFn fn) {
  PCHECK(!started_, "Trainer::set_snapshot_hook: already started");
  snapshot_kind_ = kind;
  snapshot_every_ = every_batches;
  snapshot_fn_ = std::move(fn);
}

void Trainer::set_activations_hook(int every_batches, ActivationsFn fn) {
  PCHECK(!started_, "Trainer::set_activations_hook: already started");
  snapshot_every_ = every_batches;
  activations_fn_ = std::move(fn);
}

void Trainer::set_data_parallel(std::shared_ptr<DataParallelGroup> group) {
  PCHECK(!started_, "Trainer::set_data_parallel: already started");
  group_ = std::move(group);
}

std::shared_ptr<const PreparedRun> Trainer::run() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return run_;
}

std::shared_ptr<PreparedRun> Trainer::take_run(bool record) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (run_) return run_;
  }
  PrepareOptions po;
  po.record = record;
  auto run = resume_ ? prepare_resume(*resume_) : prepare_run(config_, po);
  std::lock_guard<std::mutex> lock(mutex_);
  run_ = run;
  return run;
}

void Trainer::launch(std::function<TrainEnd()> body) {
  PCHECK(!started_, "Trainer: already started");
  started_ = true;
  thread_ = std::thread([this, body = std::move(body)] {
    TrainEnd end;
    try {
      end = body();
    } catch (const std::bad_alloc&) {
      // Preparing the run (data, model) ran out of memory: nothing ran.
      try {
        end = error_end(out_of_memory_message("while preparing the run").c_str());
      } catch (...) {
        end = error_end("out of memory while preparing the run");
      }
    } catch (const std::exception& e) {
      end = error_end(e.what());  // preparation failed: nothing ran
    } catch (...) {
      end = error_end("training failed with an unknown exception");
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      try {
        result_ = end;
      } catch (...) {
        result_ = error_end("");  // copying the message ran out of memory
      }
    }
    try {
      events_->push(end);
    } catch (...) {}  // result() still has the end; wait() and wait_for() still return
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_ = true;
    }
    cv_.notify_all();
  });
}

void Trainer::start() {
  if (config_.snapshot_every > 0 && snapshot_every_ == 0) snapshot_every_ = config_.snapshot_every;
  launch([this] {
    Job job(*this, take_run(true));
    job.install_callbacks(callbacks_);
    return job.run_training();
  });
}

void Trainer::start_lr_find(const LrFinderConfig& finder) {
  if (run_ && run_->recorder)
    throw Error("Trainer::start_lr_find: the run is recorded (prepare it with record = false)");
  if (resume_) throw Error("Trainer::start_lr_find: a resumed run cannot be a range test");
  if (group_) throw Error("Trainer::start_lr_find: the LR range test does not run data-parallel");
  launch([this, finder] {
    Job job(*this, take_run(false));
    return job.run_lr_find(finder);
  });
}

void Trainer::pause() { pause_ = true; }

void Trainer::resume() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pause_ = false;
  }
  cv_.notify_all();
}

void Trainer::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

void Trainer::wait() {
  if (thread_.joinable()) thread_.join();
}

bool Trainer::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!started_) return false;
  return cv_.wait_for(lock, timeout, [&] { return finished_.load(); });
}

std::optional<TrainEnd> Trainer::result() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return result_;
}

}  // namespace perceptra
