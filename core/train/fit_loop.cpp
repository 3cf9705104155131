// The fitting loop: epochs of TrainStep over the training loader, then
// validation, with callbacks and events in between.
#include <algorithm>
#include <cmath>
#include <new>

#include "core/backend/backend.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/optim/schedule.h"
#include "core/train/communication_error.h"
#include "core/train/evaluate.h"
#include "core/train/precise_bn.h"
#include "core/train/trainer_job.h"
#include "core/train/transfer.h"

namespace perceptra {

TrainBegin Trainer::Job::begin_event() {
  const TrainConfig& cfg = r->config;
  TrainBegin tb;
  tb.run_id = r->run_id;
  tb.run_dir = r->run_dir;
  tb.device = r->device.str();
  tb.device_note = r->device_note;
  tb.backend = backend_for(r->device).describe();
  tb.model_name = r->spec.value("name", cfg.model.is_string() ? cfg.model.get<std::string>() : "custom");
  tb.parameters = r->model->parameter_count();
  tb.dataset = r->data->source.name;
  tb.class_names = r->data->source.class_names;
  tb.train_size = static_cast<int64_t>(r->data->tv.train_indices.size());
  tb.valid_size = static_cast<int64_t>(r->data->tv.valid_indices.size());
  tb.epochs = cfg.epochs;
  tb.start_epoch = pos.epoch;
  tb.batches_per_epoch = r->batches_per_epoch;
  tb.batch_size = cfg.batch_size;
  tb.resumed = r->resumed;
  return tb;
}

TrainEnd Trainer::Job::run_training() {
  try {
    build_loaders();
    TrainBegin tb = begin_event();
    // Information, not a warning: the run proceeds as asked ("auto").
    if (!r->device_note.empty()) publish(LogMessage{r->run_id, "info", r->device_note});
    publish(LogMessage{r->run_id, "info", r->data->split_note});
    for (const auto& n : r->notes) publish(LogMessage{r->run_id, n.level, n.text});
    if (group) publish(LogMessage{r->run_id, "info", group->describe(*r->model)});
    publish(tb);
    for (auto& cb : cbs) cb->on_train_begin(*this, tb);
    maybe_snapshot(true);
    while (pos.epoch < r->config.epochs && !stop_req) {
      if (!train_epoch()) break;
      if (!end_epoch()) break;
    }
    return finish(stop_req ? stop_reason_ : EndReason::Done, stop_req ? stop_message : "");
  } catch (const CommunicationError& e) {
    interrupted = true;  // another rank is gone: resumable, not failed
    return finish(EndReason::Error, e.what());
  } catch (const std::bad_alloc&) {
    // The step's tensors are released by now: the run is recorded failed
    // (resumable from its last checkpoint) with a message saying why.
    return finish(EndReason::Error, out_of_memory_message("in epoch " + std::to_string(pos.epoch + 1) + ", step " +
                                                          std::to_string(pos.step)));
  } catch (const std::exception& e) {
    return finish(EndReason::Error, e.what());
  }
}

// Trains the rest of epoch `pos.epoch` from batch `pos.batch`. False when stopped.
bool Trainer::Job::train_epoch() {
  const Phase& ph = r->phase_for(pos.epoch);
  const bool frozen = r->frozen_at(pos.epoch);
  if (r->head_index >= 0) set_body_frozen(*r->model, r->head_index, frozen);
  EpochBegin eb{r->run_id, pos.epoch, r->config.epochs, frozen};
  publish(eb);
  for (auto& cb : cbs) cb->on_epoch_begin(*this, eb);

  train_loader->start_epoch(pos.epoch);
  Batch b;
  // A resumed epoch skips the batches already trained (the order depends
  // only on seed and epoch, so these are the same samples).
  for (int64_t i = 0; i < pos.batch; ++i)
    if (!train_loader->next(b)) break;
  stepper->restart();
  while (pos.batch < r->batches_per_epoch) {
    if (should_stop()) return false;
    if (!train_loader->next(b)) break;
    train_batch(b, ph);
    if (stop_req) return false;
    maybe_snapshot(false);
  }
  return true;
}

void Trainer::Job::train_batch(const Batch& b, const Phase& ph) {
  Optimizer& opt = *r->optimizer;
  ph.schedule->apply(pos.step - ph.first_step, opt);
  // Data-parallel: this rank steps on its shard; the hook makes the result
  // the global batch's.
  global_samples = b.labels.numel();
  StepResult s = group ? (*stepper)(group->shard(b), true) : (*stepper)(b, /*count_correct=*/true);
  pos.seconds += s.seconds;
  pos.loss_sum += s.loss * s.samples;
  pos.correct += s.correct;
  pos.count += s.samples;
  BatchEnd be{r->run_id,
              pos.epoch,
              pos.step,
              pos.batch,
              r->batches_per_epoch,
              s.loss,
              s.samples ? double(s.correct) / s.samples : 0.0,
              opt.lr(),
              opt.momentum(),
              s.images_per_s};
  ++pos.step;
  ++pos.batch;
  publish(be);
  for (auto& cb : cbs) cb->on_batch_end(*this, be);
}

// Validation and the epoch's summary. False when stopped during it.
bool Trainer::Job::end_epoch() {
  const TrainConfig& cfg = r->config;
  auto t0 = Clock::now();
  EvalOptions eo;
  eo.top_k = cfg.top_k;
  precise_batchnorm();
  // Data-parallel ranks validate the same weights on the whole validation
  // set (the same decision everywhere), with averaged BatchNorm statistics
  // and no local cancel (a stop waits for the next step).
  if (group) group->synchronize_buffers(*r->model);
  eo.cancel = group ? nullptr : &t.stop_;
  eo.max_batches = cfg.max_batches;
  EvalResult res = evaluate(*r->model, *valid_loader, eo);
  if (res.cancelled) {
    request_stop(EndReason::Stopped, "stopped by user");
    return false;
  }
  const auto& m = res.metrics;
  EpochEnd e;
  e.run_id = r->run_id;
  e.epoch = pos.epoch;
  e.epochs = cfg.epochs;
  e.step = pos.step;
  e.train_loss = pos.count ? pos.loss_sum / pos.count : 0;
  e.train_accuracy = pos.count ? double(pos.correct) / pos.count : 0;
  e.valid_loss = m.mean_loss();
  e.valid_accuracy = m.accuracy();
  e.error_rate = m.error_rate();
  e.top_k = m.top_k();
  e.top_k_accuracy = m.top_k_accuracy();
  e.class_names = r->data->source.class_names;
  e.confusion = m.confusion();
  e.precision = m.precision();
  e.recall = m.recall();
  e.f1 = m.f1();
  e.images_per_s = pos.seconds > 0 ? pos.count / pos.seconds : 0;
  e.seconds = pos.seconds + std::chrono::duration<double>(Clock::now() - t0).count();
  note_improvement(e);
  // The epoch is complete: the position moves to the next one.
  ++pos.epoch;
  pos.batch = 0;
  pos.loss_sum = pos.seconds = 0;
  pos.correct = pos.count = 0;
  last_epoch_end = e;
  have_epoch_end = true;
  // Hooks first: when a consumer sees epoch_end, the epoch's checkpoint is
  // already on disk.
  for (auto& cb : cbs) cb->on_epoch_end(*this, e);
  publish(e);
  maybe_snapshot(true);
  return true;
}

// BatchNorm statistics for the weights being validated (precise_bn.h).
// Data-parallel ranks each run the same whole batches (collective with
// sync BN), so their statistics agree before they are averaged.
void Trainer::Job::precise_batchnorm() {
  const TrainConfig& cfg = r->config;
  if (cfg.precise_bn <= 0 || !has_batchnorm(*r->model)) return;
  PreciseBnOptions o;
  o.max_images = cfg.precise_bn;
  if (cfg.max_batches > 0) o.max_images = std::min(o.max_images, cfg.max_batches * int64_t(cfg.batch_size));
  o.batch_size = cfg.batch_size;
  o.seed = cfg.seed;
  o.epoch = pos.epoch;
  o.augment = cfg.augment;
  o.norm = r->data->tv.norm;
  if (precise_bn_images.empty()) precise_bn_images = precise_bn_subset(r->data->tv.train_indices, o);
  const int64_t n =
      reestimate_batchnorm(*r->model, r->data->tv.train_data, precise_bn_images, o, group ? nullptr : &t.stop_);
  if (pos.epoch == 0 && n > 0)
    publish(LogMessage{r->run_id, "info",
                       "BatchNorm statistics are re-estimated on " + std::to_string(n) +
                           " training images before each validation (precise_bn)"});
}

// Improvement on the monitored metric (early stopping, best model).
void Trainer::Job::note_improvement(EpochEnd& e) {
  const auto& es = r->config.early_stopping;
  const bool by_acc = es.monitor == "valid_accuracy";
  const double v = by_acc ? e.valid_accuracy : e.valid_loss;
  const double delta = es.min_delta;
  if (std::isfinite(v) && (!pos.have_best || (by_acc ? v > pos.best_value + delta : v < pos.best_value - delta))) {
    pos.have_best = true;
    pos.best_value = v;
    pos.bad_epochs = 0;
    e.improved = true;
  } else {
    ++pos.bad_epochs;
  }
  pos.best_valid_accuracy = std::max(pos.best_valid_accuracy, e.valid_accuracy);
}

}  // namespace perceptra
