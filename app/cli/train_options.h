#pragma once
// The training flags shared by `train` and `lr-find`, and the event loop
// that prints a run's progress (TTY progress bar, plain lines, or --json).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "core/train/config.h"

namespace perceptra {
class Trainer;
struct PreparedRun;
}  // namespace perceptra

namespace perceptra::cli {

// Which training flags a command takes: all of them (train), or those that
// matter to the LR finder (no epochs, schedule, LR, output or database).
enum class TrainOptionSet { Train, LrFind };
// Option specs of the training flags (data, model, hyper-parameters...).
std::vector<OptionSpec> train_option_specs(TrainOptionSet set = TrainOptionSet::Train);
// Help text lines for them.
std::string train_options_help(TrainOptionSet set = TrainOptionSet::Train);
// --config FILE as the base, then every flag given overrides it. Throws
// UsageError for malformed flags and InputError (exit 2 in callers) for
// values the config rejects.
TrainConfig config_from_args(const Args& args);

struct RunOutput {
  bool json = false;   // one JSON object per event on stdout
  bool quiet = false;  // no progress on stderr
};

// Starts nothing: consumes the events of an already started trainer until
// TrainEnd, printing them; Ctrl-C or SIGTERM stops the run gracefully with
// a checkpoint (a second one kills). Returns the exit code: 0 done, 1
// diverged/error, 130 (SIGINT) or 143 (SIGTERM) when stopped by a signal.
int follow_training(Trainer& trainer, const RunOutput& out);

// Prepares a run with `prepare` (prepare_run or prepare_resume), trains it
// and follows it as above. A preparation error is reported as the run's
// end (train_end with reason error in --json), exit code 1.
int prepare_and_follow(const std::function<std::shared_ptr<PreparedRun>()>& prepare, const RunOutput& out);

// The same as one rank of a data-parallel run (--distributed, under mpirun
// or srun; distributed_train.cpp): rank 0 runs `prepare` and speaks for the
// run (events, store, files); the other ranks prepare its configuration on
// `device` / `threads` (threads < 0: rank 0's) and print only errors. A
// rank ending with an error ends the whole job (MPI_Abort), so no rank is
// left waiting for it. sync_bn: synchronised BatchNorm statistics
// (DataParallel::enable_sync_batchnorm).
int prepare_and_follow_distributed(const std::function<std::shared_ptr<PreparedRun>()>& prepare, std::string device,
                                   int threads, const RunOutput& out, bool sync_bn = false);

}  // namespace perceptra::cli
