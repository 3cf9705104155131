#include "core/train/events.h"

#include <type_traits>

namespace perceptra {

using nlohmann::json;

std::string to_string(EndReason r) {
  switch (r) {
    case EndReason::Done:
      return "done";
    case EndReason::Stopped:
      return "stopped";
    case EndReason::Diverged:
      return "diverged";
    case EndReason::Error:
      return "error";
  }
  return "error";
}

namespace {

json to_json(const TrainBegin& e) {
  return {{"run_id", e.run_id},           {"run_dir", e.run_dir},
          {"device", e.device},           {"device_note", e.device_note},
          {"backend", e.backend},         {"model", e.model_name},
          {"parameters", e.parameters},   {"dataset", e.dataset},
          {"classes", e.class_names},     {"train_size", e.train_size},
          {"valid_size", e.valid_size},   {"epochs", e.epochs},
          {"start_epoch", e.start_epoch}, {"batches_per_epoch", e.batches_per_epoch},
          {"batch_size", e.batch_size},   {"resumed", e.resumed}};
}
json to_json(const EpochBegin& e) {
  return {{"run_id", e.run_id}, {"epoch", e.epoch}, {"epochs", e.epochs}, {"frozen", e.frozen}};
}
json to_json(const BatchEnd& e) {
  return {{"run_id", e.run_id},     {"epoch", e.epoch},
          {"step", e.step},         {"batch", e.batch},
          {"batches", e.batches},   {"loss", e.loss},
          {"accuracy", e.accuracy}, {"lr", e.lr},
          {"momentum", e.momentum}, {"images_per_s", e.images_per_s}};
}
json to_json(const EpochEnd& e) {
  return {{"run_id", e.run_id},
          {"epoch", e.epoch},
          {"epochs", e.epochs},
          {"step", e.step},
          {"train_loss", e.train_loss},
          {"train_accuracy", e.train_accuracy},
          {"valid_loss", e.valid_loss},
          {"valid_accuracy", e.valid_accuracy},
          {"error_rate", e.error_rate},
          {"top_k", e.top_k},
          {"top_k_accuracy", e.top_k_accuracy},
          {"classes", e.class_names},
          {"confusion", e.confusion},
          {"precision", e.precision},
          {"recall", e.recall},
          {"f1", e.f1},
          {"images_per_s", e.images_per_s},
          {"seconds", e.seconds},
          {"improved", e.improved}};
}
json to_json(const Snapshot& e) {
  return {{"run_id", e.run_id}, {"epoch", e.epoch}, {"step", e.step}, {"kind", e.kind}};
}
json to_json(const ActivationsSnapshot& e) { return {{"run_id", e.run_id}, {"epoch", e.epoch}, {"step", e.step}}; }
json to_json(const EpochModel& e) { return {{"run_id", e.run_id}, {"epoch", e.epoch}, {"step", e.step}}; }
json to_json(const LogMessage& e) { return {{"run_id", e.run_id}, {"level", e.level}, {"text", e.text}}; }
json to_json(const LrFindEnd& e) {
  return {{"lrs", e.lrs},
          {"losses", e.losses},
          {"smoothed", e.smoothed},
          {"suggested_lr", e.suggested_lr},
          {"steepest_lr", e.steepest_lr},
          {"min_loss_lr", e.min_loss_lr},
          {"min_div10_lr", e.min_div10_lr},
          {"diverged", e.diverged},
          {"stop_reason", e.stop_reason}};
}
json to_json(const TrainEnd& e) {
  json j = {{"run_id", e.run_id},
            {"reason", to_string(e.reason)},
            {"message", e.message},
            {"model_path", e.model_path},
            {"best_model_path", e.best_model_path},
            {"checkpoint_path", e.checkpoint_path},
            {"epochs_completed", e.epochs_completed},
            {"steps", e.steps},
            {"best_valid_accuracy", e.best_valid_accuracy},
            {"final_valid_accuracy", e.final_valid_accuracy},
            {"final_valid_loss", e.final_valid_loss},
            {"seconds", e.seconds}};
  if (e.interrupted) j["interrupted"] = true;
  return j;
}

const char* name_of(const TrainBegin&) { return "train_begin"; }
const char* name_of(const EpochBegin&) { return "epoch_begin"; }
const char* name_of(const BatchEnd&) { return "batch_end"; }
const char* name_of(const EpochEnd&) { return "epoch_end"; }
const char* name_of(const Snapshot&) { return "snapshot"; }
const char* name_of(const ActivationsSnapshot&) { return "activations"; }
const char* name_of(const EpochModel&) { return "epoch_model"; }
const char* name_of(const LogMessage&) { return "log"; }
const char* name_of(const LrFindEnd&) { return "lr_find_end"; }
const char* name_of(const TrainEnd&) { return "train_end"; }

}  // namespace

std::string event_name(const TrainEvent& e) {
  return std::visit([](const auto& v) { return std::string(name_of(v)); }, e);
}

json event_to_json(const TrainEvent& e) {
  return std::visit(
      [](const auto& v) {
        json j = {{"event", name_of(v)}};
        j.update(to_json(v));
        return j;
      },
      e);
}

}  // namespace perceptra
