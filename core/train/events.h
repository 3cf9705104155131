#pragma once
// What the Trainer tells the world, as value copies: the GUI, the CLI and
// tests read these from an EventQueue; nobody reads engine memory from
// another thread. Every event carries the run id (0 without a store).
#include <any>
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace perceptra {

class Model;
struct LiveSnapshot;  // core/interp/live_snapshot.h

struct TrainBegin {
  int64_t run_id = 0;
  std::string run_dir;
  std::string device;       // "cpu", "cuda:0"
  std::string device_note;  // e.g. "CUDA: no device (...) — training on CPU"; empty if none
                            // (always empty in builds without CUDA)
  std::string backend;      // Backend::describe()
  std::string model_name;
  int64_t parameters = 0;
  std::string dataset;
  std::vector<std::string> class_names;
  int64_t train_size = 0, valid_size = 0;
  int epochs = 0;       // total epochs of the run
  int start_epoch = 0;  // > 0 when resumed (epochs already done)
  int64_t batches_per_epoch = 0;
  int batch_size = 0;
  bool resumed = false;
};

struct EpochBegin {
  int64_t run_id = 0;
  int epoch = 0;  // 0-based
  int epochs = 0;
  bool frozen = false;  // transfer learning: body still frozen this epoch
};

struct BatchEnd {
  int64_t run_id = 0;
  int epoch = 0;
  int64_t step = 0;     // global optimizer step (0-based, this batch's)
  int64_t batch = 0;    // index within the epoch
  int64_t batches = 0;  // batches per epoch
  double loss = 0;
  double accuracy = 0;  // on this training batch
  double lr = 0, momentum = 0;
  double images_per_s = 0;  // smoothed training throughput
};

struct EpochEnd {
  int64_t run_id = 0;
  int epoch = 0;
  int epochs = 0;
  int64_t step = 0;  // global steps done at the end of this epoch
  double train_loss = 0, train_accuracy = 0;
  double valid_loss = 0, valid_accuracy = 0, error_rate = 0;
  int top_k = 0;
  double top_k_accuracy = 0;
  std::vector<std::string> class_names;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<double> precision, recall, f1;    // per class
  double images_per_s = 0;                      // training throughput over the epoch
  double seconds = 0;                           // wall time of the epoch including validation
  bool improved = false;                        // new best on the monitored metric
};

// A generic value published by a snapshot hook (activations of a probe
// image, ...). payload is whatever the hook returned, typically a
// std::shared_ptr<const T> to an immutable value built for this event.
struct Snapshot {
  int64_t run_id = 0;
  int epoch = 0;
  int64_t step = 0;
  std::string kind;
  std::any payload;
};

// The activations of a probe image (Trainer::set_activations_hook), built
// on the trainer thread; immutable.
struct ActivationsSnapshot {
  int64_t run_id = 0;
  int epoch = 0;
  int64_t step = 0;
  std::shared_ptr<const LiveSnapshot> snapshot;
};

// A copy of the weights at an epoch's end (on the CPU, owned by whoever
// receives it), for views that predict off the trainer thread.
struct EpochModel {
  int64_t run_id = 0;
  int epoch = 0;
  int64_t step = 0;
  std::shared_ptr<Model> model;
};

struct LogMessage {
  int64_t run_id = 0;
  std::string level;  // info | warning
  std::string text;
};

enum class EndReason { Done, Stopped, Diverged, Error };
std::string to_string(EndReason r);  // "done", "stopped", "diverged", "error"

struct TrainEnd {
  int64_t run_id = 0;
  EndReason reason = EndReason::Done;
  std::string message;
  std::string model_path;       // final model file ("" when none was written)
  std::string best_model_path;  // best-by-validation model file, if any
  std::string checkpoint_path;  // last good checkpoint (resume point)
  int epochs_completed = 0;
  int64_t steps = 0;
  double best_valid_accuracy = 0;
  double final_valid_accuracy = 0;
  double final_valid_loss = 0;
  double seconds = 0;
  // Set with reason error when a data-parallel rank was lost
  // (CommunicationError): the run is recorded interrupted and resumable.
  bool interrupted = false;
};

// The LR range test's outcome (Trainer::lr_find), before its TrainEnd.
struct LrFindEnd {
  std::vector<double> lrs, losses, smoothed;  // the curve, in sweep order
  double suggested_lr = 0, steepest_lr = 0, min_loss_lr = 0, min_div10_lr = 0;
  bool diverged = false;
  std::string stop_reason;
};

using TrainEvent = std::variant<TrainBegin, EpochBegin, BatchEnd, EpochEnd, Snapshot, ActivationsSnapshot, EpochModel,
                                LogMessage, LrFindEnd, TrainEnd>;

// "train_begin", "epoch_begin", "batch_end", "epoch_end", "snapshot",
// "activations", "epoch_model", "log", "lr_find_end", "train_end".
std::string event_name(const TrainEvent& e);
// One JSON object with "event": <name> and the fields above (snapshot
// payloads appear only as their kind; activations and epoch models as their
// position). The CLI's --json lines.
nlohmann::json event_to_json(const TrainEvent& e);

}  // namespace perceptra
