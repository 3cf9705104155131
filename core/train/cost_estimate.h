#pragma once
// What a run will cost before it starts: parameters, activation memory per
// batch (training and inference), the projected peak resident memory of the
// process, FLOPs per image and the expected images/s on this machine; and
// the guard that refuses a run whose projected memory exceeds what the
// machine has (the studio asks once for a large but possible one).
//
//   CostEstimate e = estimate_cost(request_for(config, spec, data));
//   if (e.verdict == CostVerdict::TooLarge) ... e.refusal() ...
//
// Peak RSS = the process before the run (measured: libraries, the open
// dataset) + weights + gradients + optimizer state + one batch's activations
// (kept for backward + the worst backward transient) + the loader's
// prefetched batches + what image caches will still load + allocator slack.
// bench/bench_cost_estimate compares it with measured peaks (within 25 %).
// Host memory only: on a CUDA device the activations live on the GPU.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/nn/model_cost.h"

namespace perceptra {

struct TrainConfig;
struct PreparedData;
struct DataSource;

// The memory a run may use: PERCEPTRA_MEMORY_LIMIT_MB when set (tests and
// shared machines), else MemAvailable of /proc/meminfo plus what this
// process holds already (its own RSS is part of the projected peak).
struct MemoryLimit {
  int64_t bytes = 0;
  std::string source;  // "PERCEPTRA_MEMORY_LIMIT_MB" or "MemAvailable"
};
MemoryLimit memory_limit();
int64_t process_rss_bytes();  // VmRSS of this process (0 when unknown)

// Sustained GFLOP/s of this machine's CPU backend for convolution-like
// work, calibrated once per process (a few small GEMMs, ~20 ms).
double machine_gflops();

enum class CostVerdict { Fits, Large, TooLarge };
std::string to_string(CostVerdict v);

struct CostRequest {
  nlohmann::json spec;  // resolved: "input" and "classes" set
  int batch_size = 128;
  int inference_batch = 256;  // validation and Inspect predictions
  std::string optimizer = "sgd";
  int64_t train_images = 0, valid_images = 0;
  int prefetch = 4;                  // loader batches prepared ahead
  int64_t dataset_growth_bytes = 0;  // what image caches will still load
  int64_t baseline_bytes = -1;       // the process before the run; < 0: measured now
  bool cuda = false;                 // activations on the GPU: host memory is weights + data
};

struct CostEstimate {
  ModelCost model;
  int batch_size = 0, inference_batch = 0;
  int64_t weight_bytes = 0, grad_bytes = 0, optimizer_bytes = 0;
  int64_t train_activation_bytes = 0;  // one training batch
  int64_t infer_activation_bytes = 0;  // one inference batch (inference_batch)
  int64_t loader_bytes = 0, dataset_bytes = 0, baseline_bytes = 0, slack_bytes = 0;
  int64_t peak_train_bytes = 0;  // projected peak RSS while training
  int64_t peak_infer_bytes = 0;  // projected peak RSS of an inference pass
  double flops_per_image = 0;    // forward
  double gflops = 0;             // the machine's calibrated rate
  double images_per_s = 0;       // expected training throughput
  MemoryLimit limit;
  CostVerdict verdict = CostVerdict::Fits;        // training
  CostVerdict infer_verdict = CostVerdict::Fits;  // inference at inference_batch
  // When it does not fit comfortably: the largest batch and image size
  // ("HxW" or "N") that would (0 / "" when none does).
  int suggested_batch = 0;
  std::string suggested_size;

  // Several lines: the numbers, then the verdict.
  std::string text() const;
  // One line for status bars.
  std::string summary() const;
  // Why a TooLarge run is refused, with the numbers and what to change.
  std::string refusal() const;
  std::string suggestion() const;
  nlohmann::json to_json() const;
};

// Large: above this share of the limit (asks once in the studio).
constexpr double kLargeShare = 0.6;

CostEstimate estimate_cost(const CostRequest& request);

// The request for a run of `config` over prepared data with the resolved
// model spec (what prepare_run knows before building the model).
CostRequest cost_request(const TrainConfig& config, const nlohmann::json& spec, const PreparedData& data);
// What the image caches of `source` will still load into memory.
int64_t dataset_growth_bytes(const DataSource& source);

// The largest batch (<= wanted, >= 1) whose inference pass stays under the
// Large share of the limit: validation and Inspect use it, so a model that
// trains at batch 16 does not predict at 256 and take the machine down.
int safe_inference_batch(const CostEstimate& e, int wanted);

// Throws InputError("memory", refusal) when the run is TooLarge, unless forced.
void enforce_cost(const CostEstimate& e, bool force);

std::string bytes_text(int64_t bytes);  // "1.2 GB", "340 MB"

}  // namespace perceptra
