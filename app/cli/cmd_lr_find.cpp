// perceptra-cli lr-find: the LR range test on a throwaway copy of the model.
#include <cmath>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "core/tensor/bounded_json.h"
#include "app/cli/train_options.h"
#include "core/tensor/error.h"
#include "core/train/trainer.h"

namespace perceptra::cli {
namespace {

std::string usage_text() {
  return std::string(
             "usage: perceptra-cli lr-find --data NAME|PATH --model BUILTIN|SPEC.json\n"
             "                             [--start-lr X] [--end-lr X] [--iters N] [--json] [options]\n\n"
             "Sweeps the learning rate exponentially over N batches (fastai's lr_find) on a\n"
             "fresh model (or a copy of --from MODEL); nothing is saved or recorded. Prints the\n"
             "suggested LR (steepest descent of the smoothed loss) and the curve.\n\n"
             "options:\n"
             "  --start-lr X          (default 1e-7)\n"
             "  --end-lr X            (default 10)\n"
             "  --iters N             (default 100)\n"
             "  --json                the result as one JSON object on stdout\n"
             "  --force               run even when the projected peak memory exceeds the\n"
             "                        limit (see 'train --dry-run')\n") +
         train_options_help(TrainOptionSet::LrFind) + "\nexit status: 0 ok, 1 failure, 2 usage error\n";
}

int body(const std::vector<std::string>& argv) {
  auto specs = train_option_specs(TrainOptionSet::LrFind);
  for (const char* n : {"start-lr", "end-lr", "iters"}) specs.push_back({n, true});
  specs.push_back({"json", false});
  specs.push_back({"force", false});
  Args a(argv, specs);
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("data") && !a.has("config")) throw UsageError("--data NAME|PATH is required");
  TrainConfig cfg;
  LrFinderConfig fc;
  try {
    cfg = config_from_args(a);
    if (auto v = a.get_double("start-lr")) fc.start_lr = *v;
    if (auto v = a.get_double("end-lr")) fc.end_lr = *v;
    if (auto v = a.get_int("iters")) fc.num_iters = static_cast<int>(*v);
    fc.validate();
  } catch (const InputError& e) {
    throw UsageError(e.what());
  }
  std::shared_ptr<PreparedRun> run;
  try {
    PrepareOptions po;
    po.record = false;  // a range test is not a run
    po.force = a.flag("force");
    run = prepare_run(cfg, po);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "perceptra-cli lr-find: error: %s\n", e.what());
    return 1;
  }
  Trainer trainer(run);
  trainer.start_lr_find(fc);
  std::optional<LrFindEnd> result;
  std::optional<TrainEnd> end;
  bool tty = isatty(2);
  while (!end) {
    auto ev = trainer.events().wait_pop(std::chrono::milliseconds(200));
    if (!ev) continue;
    if (auto* b = std::get_if<BatchEnd>(&*ev)) {
      if (tty && !a.flag("json"))
        std::fprintf(stderr, "\r\033[Klr-find %lld/%d lr %.3g loss %.4f", static_cast<long long>(b->step + 1),
                     fc.num_iters, b->lr, b->loss);
    } else if (auto* r = std::get_if<LrFindEnd>(&*ev)) {
      result = *r;
    } else if (auto* lm = std::get_if<LogMessage>(&*ev)) {
      if (lm->level == "warning")
        std::fprintf(stderr, "note: %s\n", lm->text.c_str());
      else if (!a.flag("json"))
        std::fprintf(stderr, "%s\n", lm->text.c_str());
    } else if (auto* te = std::get_if<TrainEnd>(&*ev)) {
      end = *te;
    }
  }
  if (tty && !a.flag("json")) std::fprintf(stderr, "\r\033[K");
  trainer.wait();
  if (end->reason == EndReason::Error || !result) {
    std::fprintf(stderr, "perceptra-cli lr-find: error: %s\n",
                 end->message.empty() ? "no batches were run" : end->message.c_str());
    return 1;
  }
  if (a.flag("json")) {
    std::printf("%s\n", dump_json_safe(event_to_json(*result)).c_str());
    return 0;
  }
  std::printf("suggested lr: %.3g (steepest %.3g, min loss at %.3g, min/10 %.3g)%s\n", result->suggested_lr,
              result->steepest_lr, result->min_loss_lr, result->min_div10_lr,
              result->diverged ? "  [sweep stopped early: loss diverged]" : "");
  // A coarse curve: 10 rows of lr and smoothed loss.
  size_t n = result->lrs.size();
  for (size_t i = 0; i < n; i += std::max<size_t>(1, n / 10))
    std::printf("  lr %-10.3g loss %.4f\n", result->lrs[i], result->smoothed[i]);
  return 0;
}

const std::string kUsage = usage_text();
int run(const std::vector<std::string>& args) { return run_command("lr-find", kUsage.c_str(), args, body); }
Registrar reg({"lr-find", "learning-rate range test (suggests an LR)", run});

}  // namespace
}  // namespace perceptra::cli
