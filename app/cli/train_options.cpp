#include "app/cli/train_options.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "core/tensor/bounded_json.h"
#include "core/tensor/error.h"
#include "core/train/progress_text.h"
#include "core/train/trainer.h"

namespace perceptra::cli {

namespace {
std::atomic<int> g_interrupts{0};
std::atomic<int> g_signal{0};
// SIGINT/SIGTERM: the first asks for a graceful stop (checkpoint saved),
// a second one kills.
extern "C" void on_stop_signal(int sig) {
  g_signal = sig;
  if (g_interrupts.fetch_add(1) >= 1) {
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

// One training flag: its spec, its help lines, and whether it only matters
// for `train` (lr-find sets the LR itself, runs no epochs and records nothing).
struct TrainOption {
  const char* name;
  bool value;
  bool train_only;
  const char* help;
};

const TrainOption kTrainOptions[] = {
    {"data", true, false,
     "  --data NAME|PATH      fashion-mnist, mnist, cifar10, sample, or a folder/file;\n"
     "                        NAME@V / NAME@latest: dataset version V (perceptra-cli data versions)\n"},
    {"image-size", true, false,
     "  --image-size N|HxW    image folders: decode to this size (default auto: the\n"
     "                        native size of small equal images, else 224)\n"},
    {"resize", true, false, "  --resize POLICY       image folders: crop (centre, default) | squish | pad\n"},
    {"model", true, false,
     "  --model BUILTIN|FILE  mlp, lenet5, simplecnn, resnet-small, resnet18, resnet34,\n"
     "                        mobilenet_v2, or a spec JSON file\n"},
    {"config", true, false, "  --config FILE.json    a TrainConfig JSON file; flags override its fields\n"},
    {"epochs", true, true, "  --epochs N            (default 2)\n"},
    {"batch-size", true, false, "  --batch-size N        (default 128)\n"},
    {"lr", true, true, "  --lr X                learning rate (peak LR for onecycle; default 0.01)\n"},
    {"optimizer", true, false, "  --optimizer NAME      sgd | adam | adamw | lars (default sgd)\n"},
    {"momentum", true, false, "  --momentum X          SGD/LARS momentum, Adam beta1 (default 0.9)\n"},
    {"weight-decay", true, false, "  --weight-decay X      (default 0)\n"},
    {"schedule", true, true, "  --schedule NAME       constant | step | cosine | onecycle (default constant)\n"},
    {"fit", true, true, "  --fit plain|one-cycle fit policy (one-cycle = onecycle schedule)\n"},
    {"valid-pct", true, false,
     "  --valid-pct P         validate on P % of training (default: the official test\n"
     "                        split when the dataset has one, else 20 %)\n"},
    {"seed", true, false, "  --seed S              (default 0)\n"},
    {"device", true, false, "  --device D            auto | cpu | cuda:N (default auto)\n"},
    {"threads", true, false, "  --threads N           CPU threads (default: all)\n"},
    {"precision", true, false,
     "  --precision P         f32 (default) | bf16: matrix products and convolutions on\n"
     "                        bfloat16 inputs, float32 accumulation (CPU with AVX-512 BF16)\n"},
    {"augment", true, false,
     "  --augment LIST        flip,crop[=PAD],rotate[=DEG],color[=B],\n"
     "                        resized-crop[=MIN_SCALE] or none\n"},
    {"label-smoothing", true, false, "  --label-smoothing X   (default 0)\n"},
    {"from", true, false,
     "  --from MODEL          transfer learning: start from a model file; the head is\n"
     "                        replaced when the class count differs\n"},
    {"freeze-epochs", true, false, "  --freeze-epochs N     with --from: epochs with the body frozen (default 1)\n"},
    {"lr-mult", true, false,
     "  --lr-mult X           with --from: discriminative LRs after unfreezing: the\n"
     "                        first body group at lr/X, the middle at lr/sqrt(X), the\n"
     "                        head at lr (default 100; 1 = one LR for all)\n"},
    {"out", true, true,
     "  --out DIR             run files go to DIR/run-<id>/ (default ./runs;\n"
     "                        run-<id>-2, ... when that folder is taken)\n"},
    {"db", true, true,
     "  --db FILE             experiment database (default $PERCEPTRA_DB or\n"
     "                        ~/.local/share/perceptra/perceptra.db; '-' in either\n"
     "                        = no database)\n"},
    {"name", true, true, "  --name NAME           run name\n"},
    {"max-batches", true, true, "  --max-batches N       cap batches per epoch (quick looks)\n"},
    {"precise-bn", true, true,
     "  --precise-bn N        re-estimate BatchNorm statistics on N training images\n"
     "                        before each validation (default 2048; 0 = off)\n"},
    {"early-stop", true, true, "  --early-stop N        stop after N epochs without valid_loss improvement\n"},
    {"notify", true, true,
     "  --notify CMD          run CMD when training ends (env: PERCEPTRA_RUN_ID,\n"
     "                        PERCEPTRA_STATUS, PERCEPTRA_VALID_ACCURACY, ...; no shell)\n"},
    {"notify-each-epoch", false, true, "  --notify-each-epoch   also run it after every epoch\n"},
    {"distributed", false, true,
     "  --distributed         data-parallel over MPI: start with 'mpirun -np N' (or srun);\n"
     "                        --batch-size stays the global batch, split over the ranks;\n"
     "                        rank 0 records the run (needs a build with MPI)\n"},
    {"sync-bn", false, true,
     "  --sync-bn             with --distributed: BatchNorm normalises with the global\n"
     "                        batch's statistics (allreduced every step), not each rank's\n"},
    {"no-ledger", false, true,
     "  --no-ledger           do not score every image at the end (the per-image ledger\n"
     "                        `perceptra-cli data suspects` reads)\n"},
};
}  // namespace

std::string train_options_help(TrainOptionSet set) {
  std::string text;
  for (const auto& o : kTrainOptions)
    if (set == TrainOptionSet::Train || !o.train_only) text += o.help;
  return text;
}

std::vector<OptionSpec> train_option_specs(TrainOptionSet set) {
  std::vector<OptionSpec> s;
  for (const auto& o : kTrainOptions)
    if (set == TrainOptionSet::Train || !o.train_only) s.push_back({o.name, o.value});
  return s;
}

TrainConfig config_from_args(const Args& a) {
  nlohmann::json base = nlohmann::json::object();
  if (auto f = a.get("config")) {
    std::ifstream in(*f);
    if (!in) throw InputError(*f, "cannot open config file");
    try {
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      base = parse_json_bounded(text, *f);  // depth-limited
    } catch (const nlohmann::json::parse_error& e) {
      throw InputError(*f, std::string("not valid JSON: ") + e.what());
    }
  }
  TrainConfig c = TrainConfig::from_json(base);
  // Commands run only from the command line (--notify), never from a file.
  if (!c.notify.command.empty())
    throw InputError(*a.get("config"),
                     "field 'notify.command' is not accepted from a config file "
                     "(commands run only from the command line: --notify CMD)");
  if (auto v = a.get("data")) c.data = *v;
  if (auto v = a.get("image-size")) c.image_size = *v;
  if (auto v = a.get("resize")) c.resize = *v;
  if (auto v = a.get("model")) c.model = *v;
  if (auto v = a.get_int("epochs")) c.epochs = static_cast<int>(*v);
  if (auto v = a.get_int("batch-size")) c.batch_size = static_cast<int>(*v);
  if (auto v = a.get_double("lr")) c.optimizer.lr = static_cast<float>(*v);
  if (auto v = a.get("optimizer")) c.optimizer.kind = *v;
  if (auto v = a.get_double("momentum")) c.optimizer.momentum = static_cast<float>(*v);
  if (auto v = a.get_double("weight-decay")) c.optimizer.weight_decay = static_cast<float>(*v);
  if (auto v = a.get("schedule")) c.schedule.kind = *v;
  if (auto v = a.get("fit")) c.fit = *v;
  if (auto v = a.get_double("valid-pct")) c.valid_pct = *v;
  if (auto v = a.get_int("seed")) {
    if (*v < 0) throw UsageError("option '--seed' must be non-negative");
    c.seed = static_cast<uint64_t>(*v);
  }
  if (auto v = a.get("device")) c.device = *v;
  if (auto v = a.get_int("threads")) c.threads = static_cast<int>(*v);
  if (auto v = a.get("precision")) c.precision = *v;
  if (auto v = a.get("augment")) c.augment = parse_augment(*v);
  if (auto v = a.get_double("label-smoothing")) c.label_smoothing = static_cast<float>(*v);
  if (auto v = a.get("from")) c.from_model = *v;
  if (auto v = a.get_int("freeze-epochs")) {
    if (c.from_model.empty()) throw UsageError("option '--freeze-epochs' needs '--from MODEL'");
    c.freeze_epochs = static_cast<int>(*v);
  }
  if (auto v = a.get_double("lr-mult")) {
    if (c.from_model.empty()) throw UsageError("option '--lr-mult' needs '--from MODEL'");
    c.lr_mult = *v;
  }
  if (auto v = a.get("out")) c.out_dir = *v;
  if (auto v = a.get("db")) c.db_path = *v;
  if (auto v = a.get("name")) c.run_name = *v;
  if (auto v = a.get_int("max-batches")) c.max_batches = *v;
  if (auto v = a.get_int("precise-bn")) c.precise_bn = *v;
  if (auto v = a.get_int("early-stop")) c.early_stopping.patience = static_cast<int>(*v);
  if (auto v = a.get("notify")) c.notify.command = *v;
  if (a.flag("notify-each-epoch")) c.notify.each_epoch = true;
  if (a.flag("no-ledger")) c.ledger = false;
  // Device text is checked here so a typo is a usage error, not a run error.
  DeviceRequest::parse(c.device);
  c.validate();
  return c;
}

namespace {

std::string clock_text(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

struct Progress {
  bool tty = false;
  int epochs = 0, start_epoch = 0;
  int64_t bpe = 0, batch_size = 0;
  int64_t last_plain = -1;
  bool line_open = false;
  // This session's measured rate (a resumed run's earlier epochs excluded).
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
  int64_t seen = 0;

  void clear() {
    if (line_open) std::fprintf(stderr, "\r\033[K");
    line_open = false;
  }
  void batch(const BatchEnd& b) {
    ++seen;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    const double eta = eta_seconds(seen, elapsed, batches_left(b.epoch, epochs, b.batch, bpe));
    const std::string speed = speed_text(b.images_per_s, batch_size);
    double frac = bpe ? double(b.batch + 1) / bpe : 0;
    if (tty) {
      const int width = 24;
      int fill = static_cast<int>(frac * width);
      std::string bar(fill, '#');
      bar += std::string(width - fill, '.');
      std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %3d%% loss %.4f acc %.3f %s ETA %s", b.epoch + 1, epochs,
                   bar.c_str(), static_cast<int>(frac * 100), b.loss, b.accuracy, speed.c_str(),
                   clock_text(eta).c_str());
      std::fflush(stderr);
      line_open = true;
    } else {
      // Plain lines at every 25 % of an epoch (every batch when they are slow).
      if (b.batch == 0) last_plain = 0;
      int64_t quarter = bpe > 0 ? (b.batch + 1) * 4 / bpe : 0;
      const bool slow = b.images_per_s > 0 && b.images_per_s * 10 < batch_size;
      if (quarter > last_plain || slow) {
        last_plain = quarter;
        std::fprintf(stderr, "epoch %d/%d batch %lld/%lld loss %.4f %s ETA %s\n", b.epoch + 1, epochs,
                     static_cast<long long>(b.batch + 1), static_cast<long long>(bpe), b.loss, speed.c_str(),
                     clock_text(eta).c_str());
      }
    }
  }
};

}  // namespace

int follow_training(Trainer& trainer, const RunOutput& out) {
  g_interrupts = 0;
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  Progress pr;
  pr.tty = isatty(STDERR_FILENO);
  bool stop_sent = false;
  int code = 1;
  while (true) {
    if (g_interrupts.load() > 0 && !stop_sent) {
      stop_sent = true;
      trainer.stop();
      if (!out.quiet) {
        pr.clear();
        std::fprintf(stderr, "stopping after this batch (again to kill)...\n");
      }
    }
    auto ev = trainer.events().wait_pop(std::chrono::milliseconds(100));
    if (!ev) continue;
    const bool payload = std::holds_alternative<Snapshot>(*ev) || std::holds_alternative<ActivationsSnapshot>(*ev) ||
                         std::holds_alternative<EpochModel>(*ev);
    if (out.json && !payload) {
      std::printf("%s\n", dump_json_safe(event_to_json(*ev)).c_str());
      std::fflush(stdout);
    }
    if (auto* tb = std::get_if<TrainBegin>(&*ev)) {
      pr.epochs = tb->epochs;
      pr.start_epoch = tb->start_epoch;
      pr.bpe = tb->batches_per_epoch;
      pr.batch_size = tb->batch_size;
      pr.began = std::chrono::steady_clock::now();
      pr.seen = 0;
      if (!out.quiet)
        std::fprintf(stderr, "%s run %lld: %s (%lld parameters) on %s, %lld train / %lld valid images, %s\n",
                     tb->resumed ? "resuming" : "training", static_cast<long long>(tb->run_id), tb->model_name.c_str(),
                     static_cast<long long>(tb->parameters), tb->dataset.c_str(),
                     static_cast<long long>(tb->train_size), static_cast<long long>(tb->valid_size),
                     tb->device.c_str());
    } else if (auto* lm = std::get_if<LogMessage>(&*ev)) {
      // Warnings always reach the user; information (the split, the CPU
      // fallback note of a CUDA build without a usable device) unless --quiet.
      if (!out.quiet || lm->level == "warning") {
        pr.clear();
        std::fprintf(stderr, "%s%s\n", lm->level == "warning" ? "note: " : "", lm->text.c_str());
      }
    } else if (auto* be = std::get_if<BatchEnd>(&*ev)) {
      if (!out.quiet && !out.json) pr.batch(*be);
    } else if (auto* ee = std::get_if<EpochEnd>(&*ev)) {
      if (!out.quiet) {
        pr.clear();
        std::fprintf(stderr,
                     "epoch %d/%d: train_loss %.4f valid_loss %.4f valid_accuracy %.4f "
                     "(%s, %.1f s)%s\n",
                     ee->epoch + 1, ee->epochs, ee->train_loss, ee->valid_loss, ee->valid_accuracy,
                     speed_text(ee->images_per_s, pr.batch_size).c_str(), ee->seconds, ee->improved ? " *" : "");
      }
    } else if (auto* te = std::get_if<TrainEnd>(&*ev)) {
      pr.clear();
      if (!out.quiet || te->reason != EndReason::Done) {
        std::fprintf(stderr, "%s%s%s\n", to_string(te->reason).c_str(), te->message.empty() ? "" : ": ",
                     te->message.c_str());
        if (!te->model_path.empty()) std::fprintf(stderr, "model: %s\n", te->model_path.c_str());
        if (te->reason != EndReason::Done && !te->checkpoint_path.empty() && te->run_id > 0)
          std::fprintf(stderr, "resume with: perceptra-cli resume %lld\n", static_cast<long long>(te->run_id));
      }
      switch (te->reason) {
        case EndReason::Done:
          code = 0;
          break;
        case EndReason::Stopped:
          code = stop_sent ? 128 + g_signal.load() : 1;
          break;
        default:
          code = 1;
      }
      break;
    }
  }
  trainer.wait();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return code;
}

int prepare_and_follow(const std::function<std::shared_ptr<PreparedRun>()>& prepare, const RunOutput& out) {
  std::shared_ptr<PreparedRun> run;
  try {
    run = prepare();
  } catch (const std::exception& e) {
    TrainEnd end;
    end.reason = EndReason::Error;
    end.message = e.what();
    if (out.json) {
      std::printf("%s\n", event_to_json(end).dump().c_str());
      std::fflush(stdout);
    }
    std::fprintf(stderr, "%s: %s\n", to_string(end.reason).c_str(), end.message.c_str());
    if (const auto* ie = dynamic_cast<const InputError*>(&e); ie && ie->where() == "memory")
      std::fprintf(stderr, "(--force trains anyway; --dry-run shows the whole estimate)\n");
    return 1;
  }
  Trainer trainer(run);
  trainer.start();
  return follow_training(trainer, out);
}

}  // namespace perceptra::cli
