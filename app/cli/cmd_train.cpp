// perceptra-cli train: one training run in the foreground.
#include <cstdio>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/train_options.h"
#include "core/tensor/error.h"
#include "core/train/cost_estimate.h"
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
         "  --dry-run             print the cost estimate (parameters, activation memory\n"
         "                        per batch, projected peak memory, FLOPs per image,\n"
         "                        expected images/s) and what the run would adapt, then\n"
         "                        exit 0 without training (--json: one cost_estimate object)\n"
         "  --force               train even when the projected peak memory exceeds the\n"
         "                        limit (MemAvailable, or $PERCEPTRA_MEMORY_LIMIT_MB);\n"
         "                        without it such a run is refused with the numbers.\n"
         "                        Large runs that fit get a warning, never a question\n"
         "  --json                JSON lines on stdout\n"
         "  --quiet               no progress on stderr\n\n"
         "exit status: 0 done, 1 failed or diverged, 2 usage error, 130/143 stopped by\n"
         "Ctrl-C/SIGTERM (checkpoint saved; resume continues)\n";
}

// --dry-run: the data is opened and split (its shape decides the model's),
// nothing is built, written or trained.
int print_estimate(const TrainConfig& cfg, const RunOutput& out) {
  PrepareOptions po;
  po.record = false;
  po.estimate_only = true;
  std::shared_ptr<PreparedRun> run;
  try {
    run = prepare_run(cfg, po);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  for (const auto& n : run->notes)
    if (n.text.rfind("cost estimate: ", 0) != 0)
      std::fprintf(stderr, "%s%s\n", n.level == "warning" ? "note: " : "", n.text.c_str());
  if (!run->cost) {
    std::fprintf(stderr, "error: the model spec could not be estimated (train without --dry-run to see why)\n");
    return 1;
  }
  if (out.json) {
    nlohmann::json j = run->cost->to_json();
    j["event"] = "cost_estimate";
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s", run->cost->text().c_str());
  }
  return 0;
}

int body(const std::vector<std::string>& argv) {
  auto specs = train_option_specs();
  specs.push_back({"json", false});
  specs.push_back({"quiet", false});
  specs.push_back({"dry-run", false});
  specs.push_back({"force", false});
  Args a(argv, specs);
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("data") && !a.has("config")) throw UsageError("--data NAME|PATH is required");
  if (!a.has("model") && !a.has("config") && !a.has("from")) throw UsageError("--model BUILTIN|SPEC.json is required");
  TrainConfig cfg;
  try {
    cfg = config_from_args(a);
  } catch (const InputError& e) {
    throw UsageError(e.what());
  }
  const RunOutput out{a.flag("json"), a.flag("quiet")};
  if (a.flag("dry-run")) return print_estimate(cfg, out);
  PrepareOptions po;
  po.force = a.flag("force");
  if (a.flag("sync-bn") && !a.flag("distributed")) throw UsageError("--sync-bn needs --distributed");
  if (a.flag("distributed"))
    return prepare_and_follow_distributed([&] { return prepare_run(cfg, po); }, cfg.device,
                                          a.has("threads") ? cfg.threads : -1, out, a.flag("sync-bn"));
  return prepare_and_follow([&] { return prepare_run(cfg, po); }, out);
}

const std::string kUsage = usage_text();
int run(const std::vector<std::string>& args) { return run_command("train", kUsage.c_str(), args, body); }
Registrar reg({"train", "train a model (progress, store, checkpoints)", run});

}  // namespace
}  // namespace perceptra::cli
