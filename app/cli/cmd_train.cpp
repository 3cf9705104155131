// perceptra-cli train: one training run in the foreground.
#include <cstdio>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/train_options.h"
#include "core/tensor/error.h"
#include "core/train/prepared_run.h"

namespace perceptra::cli {
namespace {

std::string usage_text() {
  return std::string(
             "usage: perceptra-cli train --data NAME|PATH --model BUILTIN|SPEC.json [options]\n\n"
             "Trains a model, records the run in the experiment database and writes\n"
             "DIR/run-<id>/{model.pmodel,best.pmodel,last.ckpt} (run-<id>-2, ... when that\n"
             "folder exists already; a run never writes into another's). Progress: stderr;\n"
             "with --json, stdout gets one JSON object per event (train_begin, batch_end,\n"
             "epoch_end with train_loss/valid_loss/valid_accuracy/images_per_s, train_end\n"
             "with reason and model_path). Ctrl-C stops after the current batch and saves a\n"
             "checkpoint ('perceptra-cli resume ID' continues).\n\noptions:\n") +
         train_options_help() +
         "  --json                JSON lines on stdout\n"
         "  --quiet               no progress on stderr\n\n"
         "exit status: 0 done, 1 failed or diverged, 2 usage error, 130/143 stopped by\n"
         "Ctrl-C/SIGTERM (checkpoint saved; resume continues)\n";
}

int body(const std::vector<std::string>& argv) {
  auto specs = train_option_specs();
  specs.push_back({"json", false});
  specs.push_back({"quiet", false});
  Args a(argv, specs);
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("data") && !a.has("config")) throw UsageError("--data NAME|PATH is required");
  if (!a.has("model") && !a.has("config") && !a.has("from"))
    throw UsageError("--model BUILTIN|SPEC.json is required");
  TrainConfig cfg;
  try {
    cfg = config_from_args(a);
  } catch (const InputError& e) {
    throw UsageError(e.what());
  }
  const RunOutput out{a.flag("json"), a.flag("quiet")};
  if (a.flag("distributed"))
    return prepare_and_follow_distributed([&] { return prepare_run(cfg); }, cfg.device, a.has("threads") ? cfg.threads : -1,
                                          out);
  return prepare_and_follow([&] { return prepare_run(cfg); }, out);
}

const std::string kUsage = usage_text();
int run(const std::vector<std::string>& args) { return run_command("train", kUsage.c_str(), args, body); }
Registrar reg({"train", "train a model (progress, store, checkpoints)", run});

}  // namespace
}  // namespace perceptra::cli
