#include "core/train/builtin_callbacks.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "core/tensor/error.h"

extern char** environ;

namespace perceptra {

namespace fs = std::filesystem;

// ---- NaN guard ----------------------------------------------------------

void NanGuard::on_batch_end(TrainContext& ctx, const BatchEnd& b) {
  if (std::isfinite(b.loss)) return;
  std::ostringstream s;
  s << "training loss became " << (std::isnan(b.loss) ? "NaN" : "infinite") << " at epoch " << b.epoch + 1 << ", step "
    << b.step << " (lr " << b.lr << "); try a smaller learning rate";
  ctx.request_stop(EndReason::Diverged, s.str());
}

void NanGuard::on_epoch_end(TrainContext& ctx, const EpochEnd& e) {
  if (std::isfinite(e.valid_loss)) return;
  ctx.request_stop(EndReason::Diverged, "validation loss became non-finite after epoch " + std::to_string(e.epoch + 1));
}

// ---- early stopping -----------------------------------------------------------

void EarlyStopping::on_epoch_end(TrainContext& ctx, const EpochEnd&) {
  const auto& es = ctx.config().early_stopping;
  if (es.patience <= 0 || ctx.epochs_without_improvement() < es.patience) return;
  if (ctx.epoch() >= ctx.config().epochs) return;  // finished anyway
  ctx.request_stop(EndReason::Done,
                   "early stopping: " + es.monitor + " did not improve for " + std::to_string(es.patience) + " epochs");
}

// ---- checkpoints ----------------------------------------------------------------

void CheckpointSaver::on_epoch_end(TrainContext& ctx, const EpochEnd& e) {
  if (ctx.stop_requested() && ctx.stop_reason() == EndReason::Diverged) return;
  last_ = (fs::path(ctx.run_dir()) / "last.ckpt").string();
  ctx.save_checkpoint(last_);
  ctx.record_artifact("checkpoint", last_);
  if (e.improved) {
    best_ = (fs::path(ctx.run_dir()) / "best.pmodel").string();
    ctx.save_model(best_);
    ctx.record_artifact("best", best_);
  }
}

void CheckpointSaver::on_train_end(TrainContext& ctx, TrainEnd& end) {
  // A user stop mid-epoch: save the exact position so `resume` continues it.
  if (end.reason == EndReason::Stopped && !ctx.run_dir().empty()) {
    try {
      last_ = (fs::path(ctx.run_dir()) / "last.ckpt").string();
      ctx.save_checkpoint(last_);
      ctx.record_artifact("checkpoint", last_);
    } catch (const std::exception& ex) {
      ctx.publish(LogMessage{ctx.run_id(), "warning", std::string("checkpoint at stop failed: ") + ex.what()});
    }
  }
  end.checkpoint_path = last_;
  end.best_model_path = best_;
}

// ---- notification ------------------------------------------------------------------

std::vector<std::string> split_command(const std::string& command) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char c : command) {
    if (quote) {
      if (c == quote)
        quote = 0;
      else
        cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quote) throw InputError("notify", "unterminated quote in command '" + command + "'");
  if (in_word) words.push_back(cur);
  return words;
}

int run_notify_command(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                       std::chrono::milliseconds timeout, std::string* error) {
  if (argv.empty()) {
    if (error) *error = "empty command";
    return -1;
  }
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos && env.count(kv.substr(0, eq))) continue;
    env_strings.push_back(kv);
  }
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : env_strings) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0].c_str(), nullptr, nullptr, cargv.data(), cenv.data());
  if (rc != 0) {
    if (error) *error = "cannot run '" + argv[0] + "': " + std::strerror(rc);
    return -1;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) {
      if (error) *error = std::string("waitpid: ") + std::strerror(errno);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Still running: reap it in the background so it never becomes a zombie.
  std::thread([pid] {
    int status = 0;
    waitpid(pid, &status, 0);
  }).detach();
  if (error) *error = "'" + argv[0] + "' still running after the timeout; left to finish";
  return -1;
}

namespace {

std::string num(double v) {
  std::ostringstream s;
  s.precision(6);
  s << v;
  return s.str();
}

void notify(TrainContext& ctx, std::map<std::string, std::string> env) {
  env["PERCEPTRA_RUN_ID"] = std::to_string(ctx.run_id());
  env["PERCEPTRA_RUN_DIR"] = ctx.run_dir();
  env["PERCEPTRA_EPOCHS"] = std::to_string(ctx.config().epochs);
  std::string error;
  std::vector<std::string> argv;
  try {
    argv = split_command(ctx.config().notify.command);
  } catch (const std::exception& e) {
    error = e.what();
  }
  int rc = argv.empty() ? -1 : run_notify_command(argv, env, std::chrono::seconds(10), &error);
  if (rc != 0) {
    std::string text = "notify command: " + (error.empty() ? "exited with status " + std::to_string(rc) : error);
    ctx.publish(LogMessage{ctx.run_id(), "warning", text});
  }
}

}  // namespace

void NotifyCommand::on_epoch_end(TrainContext& ctx, const EpochEnd& e) {
  if (!ctx.config().notify.each_epoch) return;
  notify(ctx, {{"PERCEPTRA_EVENT", "epoch_end"},
               {"PERCEPTRA_STATUS", "running"},
               {"PERCEPTRA_EPOCH", std::to_string(e.epoch + 1)},
               {"PERCEPTRA_TRAIN_LOSS", num(e.train_loss)},
               {"PERCEPTRA_VALID_LOSS", num(e.valid_loss)},
               {"PERCEPTRA_VALID_ACCURACY", num(e.valid_accuracy)},
               {"PERCEPTRA_SECONDS", num(e.seconds)}});
}

void NotifyCommand::on_train_end(TrainContext& ctx, TrainEnd& end) {
  notify(ctx, {{"PERCEPTRA_EVENT", "train_end"},
               {"PERCEPTRA_STATUS", to_string(end.reason)},
               {"PERCEPTRA_MESSAGE", end.message},
               {"PERCEPTRA_EPOCH", std::to_string(end.epochs_completed)},
               {"PERCEPTRA_VALID_LOSS", num(end.final_valid_loss)},
               {"PERCEPTRA_VALID_ACCURACY", num(end.final_valid_accuracy)},
               {"PERCEPTRA_BEST_VALID_ACCURACY", num(end.best_valid_accuracy)},
               {"PERCEPTRA_MODEL_PATH", end.model_path},
               {"PERCEPTRA_SECONDS", num(end.seconds)}});
}

}  // namespace perceptra
