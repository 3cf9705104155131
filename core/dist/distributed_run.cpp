#include "core/dist/distributed_run.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/io/checkpoint.h"
#include "core/nn/model.h"
#include "core/train/run_recorder.h"

namespace fs = std::filesystem;

namespace perceptra {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot read the checkpoint to send to the other ranks");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A checkpoint received as bytes, loaded through a private temporary file.
Checkpoint checkpoint_from_bytes(const std::string& bytes, int rank) {
  fs::path tmp = fs::temp_directory_path() /
                 ("perceptra-rank" + std::to_string(rank) + "-" + std::to_string(::getpid()) + ".ckpt");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw InputError(tmp.string(), "cannot write the checkpoint received from rank 0");
  }
  try {
    Checkpoint c = load_checkpoint(tmp.string());
    fs::remove(tmp);
    return c;
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace

std::shared_ptr<PreparedRun> prepare_distributed(DataParallel& dp,
                                                 const std::function<std::shared_ptr<PreparedRun>()>& prepare_root,
                                                 const std::string& device, int threads) {
  std::shared_ptr<PreparedRun> run;
  // 1. Rank 0 prepares and sends the outcome.
  nlohmann::json hdr;
  std::string ckpt_bytes;
  if (dp.is_root()) {
    try {
      run = prepare_root();
      hdr = {{"error", ""}, {"config", run->config.to_json()}, {"checkpoint", !run->checkpoint_path.empty()}};
      if (!run->checkpoint_path.empty()) ckpt_bytes = read_file(run->checkpoint_path);
    } catch (const std::exception& e) {
      if (run && run->recorder) run->recorder->fail(e.what());
      hdr = {{"error", e.what()}};
    }
  }
  hdr = nlohmann::json::parse(dp.broadcast_string(hdr.dump()));
  const std::string root_error = hdr.at("error").get<std::string>();
  if (!root_error.empty()) {
    if (dp.is_root()) throw Error(root_error);
    throw Error("rank 0 could not prepare the run: " + root_error);
  }
  if (hdr.at("checkpoint").get<bool>()) ckpt_bytes = dp.broadcast_string(ckpt_bytes);

  // 2. The other ranks prepare the same run, unrecorded.
  std::string error;
  if (!dp.is_root()) {
    try {
      TrainConfig cfg = TrainConfig::from_json(hdr.at("config"));
      cfg.device = device;
      if (threads >= 0) cfg.threads = threads;
      cfg.db_path = "-";
      cfg.notify.command.clear();
      PrepareOptions po;
      po.record = false;
      std::optional<Checkpoint> ckpt;
      if (!ckpt_bytes.empty()) {
        ckpt = checkpoint_from_bytes(ckpt_bytes, dp.rank());
        po.checkpoint = &*ckpt;
        po.checkpoint_name = "checkpoint from rank 0";
      }
      run = prepare_run(cfg, po);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }

  // 3. Everyone learns whether everyone succeeded.
  if (!dp.all_ok(error.empty())) {
    const std::string msg = error.empty() ? "another rank could not prepare the run (see its output)"
                                          : "rank " + std::to_string(dp.rank()) + ": " + error;
    if (run && run->recorder) run->recorder->fail(msg);
    throw Error(msg);
  }
  // 4. Identical starting weights (the seed gives them already; this also
  // covers any nondeterminism in initialisation).
  dp.broadcast_parameters(run->model->parameters());
  return run;
}

}  // namespace perceptra
