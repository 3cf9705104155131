// The LR range test: TrainStep with an exponentially growing learning rate
// on the prepared (throwaway) model, until the finder has its curve.
#include "core/optim/optimizer.h"
#include "core/train/trainer_job.h"
#include "core/train/transfer.h"

namespace perceptra {

namespace {

LrFindEnd lr_find_event(const LrFinderResult& r) {
  LrFindEnd e;
  for (auto& p : r.curve) {
    e.lrs.push_back(p.lr);
    e.losses.push_back(p.loss);
    e.smoothed.push_back(p.smoothed);
  }
  e.suggested_lr = r.suggested_lr;
  e.steepest_lr = r.steepest_lr;
  e.min_loss_lr = r.min_loss_lr;
  e.min_div10_lr = r.min_div10_lr;
  e.diverged = r.diverged;
  e.stop_reason = r.stop_reason;
  return e;
}

}  // namespace

TrainEnd Trainer::Job::run_lr_find(const LrFinderConfig& fc) {
  TrainEnd end;
  try {
    build_loaders();
    for (const auto& n : r->notes) publish(LogMessage{r->run_id, n.level, n.text});
    if (r->head_index >= 0) set_body_frozen(*r->model, r->head_index, r->config.freeze_epochs > 0);
    Optimizer& opt = *r->optimizer;
    LrFinder finder(fc);
    int64_t epoch = 0;
    while (!finder.done()) {
      train_loader->start_epoch(epoch++);
      Batch b;
      bool any = false;
      while (!finder.done() && train_loader->next(b)) {
        any = true;
        if (should_stop()) break;
        double lr = finder.next_lr();
        opt.set_lr(static_cast<float>(lr));
        StepResult s = (*stepper)(b, /*count_correct=*/false);
        finder.record(s.loss);
        publish(BatchEnd{0, 0, pos.step, pos.step, fc.num_iters, s.loss, 0, lr, opt.momentum(), s.images_per_s});
        ++pos.step;
      }
      if (stop_req || !any) break;
    }
    if (finder.iteration() > 0) publish(lr_find_event(finder.result()));
    end.reason = stop_req ? stop_reason_ : EndReason::Done;
    end.message = stop_req ? stop_message : "";
    end.steps = pos.step;
  } catch (const std::bad_alloc&) {
    end = TrainEnd{};
    end.reason = EndReason::Error;
    end.message = out_of_memory_message("in the learning-rate range test, step " + std::to_string(pos.step));
    return end;
  } catch (const std::exception& e) {
    end = TrainEnd{};
    end.reason = EndReason::Error;
    end.message = e.what();
    return end;
  }
  end.seconds = std::chrono::duration<double>(Clock::now() - t_start).count();
  return end;
}

}  // namespace perceptra
