// One rank of `mpirun -np N perceptra-cli train|resume --distributed`.
#include <cstdio>

#include "app/cli/train_options.h"
#include "core/dist/distributed_run.h"
#include "core/train/run_recorder.h"
#include "core/train/communication_error.h"
#include "core/train/events.h"
#include "core/train/trainer.h"

namespace perceptra::cli {

namespace {

int report_error(const std::string& message, const RunOutput& out) {
  TrainEnd end;
  end.reason = EndReason::Error;
  end.message = message;
  if (out.json) {
    std::printf("%s\n", event_to_json(end).dump().c_str());
    std::fflush(stdout);
  }
  std::fprintf(stderr, "%s: %s\n", to_string(end.reason).c_str(), end.message.c_str());
  return 1;
}

}  // namespace

int prepare_and_follow_distributed(const std::function<std::shared_ptr<PreparedRun>()>& prepare, std::string device,
                                   int threads, const RunOutput& out, bool sync_bn) {
  std::shared_ptr<DataParallel> dp;
  try {
    dp = make_data_parallel(device);  // a GPU per rank when there are GPUs
  } catch (const std::exception& e) {
    return report_error(e.what(), out);  // no MPI, or not under a launcher
  }
  const RunOutput mine = dp->is_root() ? out : RunOutput{false, true};
  std::shared_ptr<PreparedRun> run;
  try {
    run = prepare_distributed(*dp, prepare, device, threads);
  } catch (const std::exception& e) {
    // Every rank learnt the failure (prepare_distributed agrees on it).
    int code =
        report_error((dp->is_root() ? "" : "rank " + std::to_string(dp->rank()) + ": ") + std::string(e.what()), mine);
    if (dynamic_cast<const CommunicationError*>(&e) && dp->size() > 1) dp->comm().abort(code);
    return code;
  }
  if (sync_bn) {
    // The same configuration on every rank: all succeed or all fail alike.
    try {
      const TrainConfig& c = run->config;
      if (dp->enable_sync_batchnorm(*run->model, int64_t(run->data->tv.train_indices.size()), c.batch_size,
                                    c.max_batches) == 0 &&
          dp->is_root() && !out.quiet)
        std::fprintf(stderr, "note: --sync-bn: the model has no BatchNorm layer\n");
    } catch (const std::exception& e) {
      int code = report_error(e.what(), mine);
      if (run->recorder) run->recorder->fail(e.what());
      return code;
    }
  }
  int code = 1;
  std::optional<TrainEnd> end;
  {
    Trainer trainer(run);
    trainer.set_data_parallel(dp);
    trainer.start();
    code = follow_training(trainer, mine);
    end = trainer.result();
  }
  // Ranks agree on done/stopped/diverged; an error may be one rank's own
  // (a lost peer, a full disk on rank 0): the others would wait for it.
  if (end && end->reason == EndReason::Error && dp->size() > 1) {
    if (!dp->is_root()) std::fprintf(stderr, "rank %d: error: %s\n", dp->rank(), end->message.c_str());
    dp->comm().abort(code);
  }
  return code;
}

}  // namespace perceptra::cli
