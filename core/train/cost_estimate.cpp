#include "core/train/cost_estimate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/backend/backend.h"
#include "core/data/image_folder.h"
#include "core/data/resolve.h"
#include "core/tensor/error.h"
#include "core/train/config.h"
#include "core/train/setup.h"

namespace perceptra {

namespace {

constexpr int64_t kMB = int64_t(1) << 20;
// The loader keeps a normalised float copy of in-memory data up to this
// much per loader (core/data/loader.h, LoaderOptions::cache_budget_bytes).
constexpr int64_t kLoaderFloatCache = int64_t(1) << 30;
// Freed blocks the CPU backend keeps for reuse (cpu_backend.cpp).
constexpr int64_t kBlockCacheMax = int64_t(256) << 20;
// Started once training runs: the trainer, loader and OpenMP threads, the
// oneDNN kernels, allocator arenas (measured: bench_cost_estimate).
constexpr int64_t kRuntimeBytes = int64_t(40) << 20;

// A "Key:   123 kB" line of a /proc file, in bytes (0 when absent).
int64_t proc_kb(const char* file, const char* key) {
  std::ifstream in(file);
  std::string line;
  const std::string k = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(k, 0) != 0) continue;
    std::istringstream s(line.substr(k.size()));
    int64_t kb = 0;
    s >> kb;
    return kb * 1024;
  }
  return 0;
}

}  // namespace

int64_t process_rss_bytes() { return proc_kb("/proc/self/status", "VmRSS"); }

MemoryLimit memory_limit() {
  MemoryLimit m;
  if (const char* e = std::getenv("PERCEPTRA_MEMORY_LIMIT_MB"); e && *e) {
    char* end = nullptr;
    const double mb = std::strtod(e, &end);
    if (end != e && *end == '\0' && mb > 0 && std::isfinite(mb)) {
      m.bytes = int64_t(mb * double(kMB));
      m.source = "PERCEPTRA_MEMORY_LIMIT_MB";
      return m;
    }
  }
  m.bytes = proc_kb("/proc/meminfo", "MemAvailable") + process_rss_bytes();
  m.source = "MemAvailable";
  return m;
}

double machine_gflops() {
  // Measured once: the best of a few 256^3 GEMMs on the CPU backend (the
  // kernels convolutions and linear layers end up in).
  static const double rate = [] {
    const int n = 256;
    std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n);
    Backend& be = backend_for(Device::cpu());
    double best = 0;
    for (int rep = 0; rep < 4; ++rep) {
      auto t0 = std::chrono::steady_clock::now();
      be.gemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s > 0) best = std::max(best, 2.0 * n * n * n / s / 1e9);
    }
    return best > 0 ? best : 1.0;
  }();
  return rate;
}

std::string to_string(CostVerdict v) {
  switch (v) {
    case CostVerdict::Fits:
      return "fits";
    case CostVerdict::Large:
      return "large";
    case CostVerdict::TooLarge:
      return "too large";
  }
  return "?";
}

std::string bytes_text(int64_t bytes) {
  char buf[32];
  const double b = double(bytes);
  if (b >= 1e9)
    std::snprintf(buf, sizeof buf, "%.1f GB", b / 1e9);
  else if (b >= 1e6)
    std::snprintf(buf, sizeof buf, "%.0f MB", b / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.0f kB", b / 1e3);
  return buf;
}

namespace {

std::string count_text(double v) {
  char buf[32];
  if (v >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f G", v / 1e9);
  else if (v >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2f M", v / 1e6);
  else if (v >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1f k", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string rate_text(double images_per_s) {
  char buf[48];
  if (images_per_s >= 10)
    std::snprintf(buf, sizeof buf, "%.0f images/s", images_per_s);
  else if (images_per_s >= 1)
    std::snprintf(buf, sizeof buf, "%.1f images/s", images_per_s);
  else if (images_per_s > 0)
    std::snprintf(buf, sizeof buf, "%.1f s per image", 1.0 / images_per_s);
  else
    std::snprintf(buf, sizeof buf, "unknown");
  return buf;
}

CostVerdict verdict_for(int64_t peak, int64_t limit) {
  if (limit <= 0) return CostVerdict::Fits;
  if (peak > limit) return CostVerdict::TooLarge;
  if (double(peak) > kLargeShare * double(limit)) return CostVerdict::Large;
  return CostVerdict::Fits;
}

}  // namespace

namespace {

// The memory and speed side of an estimate, for a model already costed.
CostEstimate estimate_from(const ModelCost& mc, const CostRequest& q) {
  CostEstimate e;
  e.model = mc;
  e.batch_size = std::max(1, q.batch_size);
  e.inference_batch = std::max(1, q.inference_batch);
  const ModelCost& m = e.model;
  const int64_t f = sizeof(float);
  const int slots = (q.optimizer == "adam" || q.optimizer == "adamw") ? 2 : 1;
  e.weight_bytes = (m.parameters + m.buffers) * f;
  e.grad_bytes = m.parameters * f;
  e.optimizer_bytes = m.parameters * f * slots;
  const int64_t sample = m.input.numel() * f;
  e.flops_per_image = m.forward_flops;
  e.gflops = machine_gflops();
  // Training runs forward + backward (about 3x the forward's work); conv
  // and GEMM kernels reach about half the calibrated GEMM rate end to end.
  e.images_per_s = m.forward_flops > 0 ? 0.5 * e.gflops * 1e9 / (3.0 * m.forward_flops) : 0;
  e.dataset_bytes = std::max<int64_t>(0, q.dataset_growth_bytes);
  e.baseline_bytes = q.baseline_bytes >= 0 ? q.baseline_bytes : process_rss_bytes();
  e.limit = memory_limit();
  const int64_t B = e.batch_size, V = std::min<int64_t>(e.inference_batch, std::max<int64_t>(1, q.valid_images));
  e.inference_batch = int(V);  // a validation set smaller than the batch fills one
  if (q.cuda) {
    e.train_activation_bytes = e.infer_activation_bytes = 0;
  } else {
    // What one step keeps and its worst transient are resident at once; the
    // rest of what it allocates stays in the block cache (exact sizes,
    // bounded), so the step's resident peak is nearly all it allocates.
    const int64_t live = B * (m.train_kept_floats + m.train_transient_floats) * f;
    const int64_t all = B * std::max(m.train_alloc_floats, m.train_kept_floats + m.train_transient_floats) * f;
    e.train_activation_bytes = std::min(all, live + kBlockCacheMax);
    e.infer_activation_bytes = V * m.infer_peak_floats * f;
  }
  // Batches in flight: the prefetch queue, one being built per worker and
  // the one in use, for the training loader; the validation loader's are
  // alive during validation only.
  const int64_t train_batches = (q.prefetch + 2) * B * sample;
  const int64_t valid_batches = (q.prefetch + 2) * V * sample;  // at the asked batch (inference peak)
  e.loader_bytes = train_batches;
  e.slack_bytes = kRuntimeBytes;
  const int64_t fixed = e.baseline_bytes + e.dataset_bytes + e.weight_bytes;
  e.peak_train_bytes =
      fixed + e.grad_bytes + e.optimizer_bytes + e.train_activation_bytes + train_batches + e.slack_bytes;
  // Validation runs between epochs (the training batches still queued), in
  // batches the run shrinks until they fit (PreparedRun::inference_batch):
  // it adds to the peak only what those cost.
  const int64_t vfixed = fixed + e.grad_bytes + e.optimizer_bytes + train_batches + e.slack_bytes;
  const int64_t per_valid = q.cuda ? (q.prefetch + 2) * sample : m.infer_peak_floats * f + (q.prefetch + 2) * sample;
  const int64_t room = std::max<int64_t>(e.peak_train_bytes, int64_t(kLargeShare * double(e.limit.bytes))) - vfixed;
  const int64_t fit = std::clamp<int64_t>(per_valid > 0 ? room / per_valid : V, 1, V);
  e.peak_train_bytes = std::max(e.peak_train_bytes, vfixed + fit * per_valid);
  e.peak_infer_bytes = e.baseline_bytes + e.weight_bytes + e.infer_activation_bytes + valid_batches;
  e.verdict = verdict_for(e.peak_train_bytes, e.limit.bytes);
  e.infer_verdict = verdict_for(e.peak_infer_bytes, e.limit.bytes);
  return e;
}

}  // namespace

CostEstimate estimate_cost(const CostRequest& q) {
  CostEstimate e = estimate_from(model_cost(q.spec), q);
  if (e.verdict == CostVerdict::Fits) return e;
  // What would fit comfortably: the largest smaller batch, and the largest
  // smaller image size (same aspect; the model is costed again, since a
  // linear layer after the convolutions grows with the image too).
  for (int b = e.batch_size / 2; b >= 1; b /= 2) {
    CostRequest r = q;
    r.batch_size = b;
    if (estimate_from(e.model, r).verdict == CostVerdict::Fits) {
      e.suggested_batch = b;
      break;
    }
  }
  const Shape in = e.model.input;
  if (in.rank() == 3 && std::max(in[1], in[2]) > 32) {
    for (double f = 0.75; std::max(in[1], in[2]) * f >= 16; f *= 0.8) {
      const int64_t h = std::max<int64_t>(8, int64_t(double(in[1]) * f) / 8 * 8);
      const int64_t w = std::max<int64_t>(8, int64_t(double(in[2]) * f) / 8 * 8);
      CostRequest r = q;
      r.spec["input"] = {in[0], h, w};
      try {
        if (estimate_from(model_cost(r.spec), r).verdict == CostVerdict::Fits) {
          e.suggested_size = h == w ? std::to_string(h) : std::to_string(h) + "x" + std::to_string(w);
          break;
        }
      } catch (const std::exception&) {
        break;  // too small for the model's layers
      }
    }
  }
  return e;
}

std::string CostEstimate::suggestion() const {
  std::string s;
  if (!suggested_size.empty()) s = "a smaller image size (--image-size " + suggested_size + ")";
  if (suggested_batch > 0)
    s += (s.empty() ? "" : " or ") + std::string("a smaller batch (--batch-size ") + std::to_string(suggested_batch) +
         ")";
  if (s.empty()) s = "a smaller model (fewer or narrower layers) or a machine with more memory";
  return "Use " + s + ".";
}

std::string CostEstimate::summary() const {
  return count_text(double(model.parameters)) + " parameters · " + bytes_text(train_activation_bytes) +
         " activations per batch · peak ≈ " + bytes_text(peak_train_bytes) + " of " + bytes_text(limit.bytes) +
         " · ≈ " + rate_text(images_per_s);
}

std::string CostEstimate::text() const {
  char buf[256];
  std::string t;
  auto line = [&](const char* k, const std::string& v) {
    std::snprintf(buf, sizeof buf, "  %-34s %s\n", k, v.c_str());
    t += buf;
  };
  t += "cost estimate (" + model.input.str() + " input, batch " + std::to_string(batch_size) + "):\n";
  line("parameters", count_text(double(model.parameters)) + " (" + std::to_string(model.parameters) + ")");
  line("FLOPs per image (forward)", count_text(flops_per_image) + "FLOP");
  line("weights + gradients + optimizer",
       bytes_text(weight_bytes) + " + " + bytes_text(grad_bytes) + " + " + bytes_text(optimizer_bytes));
  line("activations per training batch",
       bytes_text(train_activation_bytes) +
           (model.largest_layer.empty() ? std::string() : " (largest layer " + model.largest_layer + ")"));
  line(("activations per inference batch (" + std::to_string(inference_batch) + ")").c_str(),
       bytes_text(infer_activation_bytes));
  line("loader batches in flight", bytes_text(loader_bytes));
  line("dataset still to load", bytes_text(dataset_bytes));
  line("process before the run", bytes_text(baseline_bytes));
  line("projected peak memory (training)", bytes_text(peak_train_bytes));
  line("projected peak memory (inference)", bytes_text(peak_infer_bytes));
  line("memory limit", bytes_text(limit.bytes) + " (" + limit.source + ")");
  std::snprintf(buf, sizeof buf, "%s (machine ~%.0f GFLOP/s)", rate_text(images_per_s).c_str(), gflops);
  line("expected speed", buf);
  line("verdict", to_string(verdict) + (verdict == CostVerdict::TooLarge ? " - " + suggestion() : std::string()));
  return t;
}

std::string CostEstimate::refusal() const {
  return "this run would need about " + bytes_text(peak_train_bytes) + " of memory at its peak (" +
         bytes_text(train_activation_bytes) + " of activations per batch of " + std::to_string(batch_size) + " at " +
         model.input.str() + ", " + count_text(double(model.parameters)) + " parameters) but " +
         bytes_text(limit.bytes) + " are available (" + limit.source + "). " + suggestion();
}

nlohmann::json CostEstimate::to_json() const {
  return {{"parameters", model.parameters},
          {"buffers", model.buffers},
          {"input", model.input.dims()},
          {"batch_size", batch_size},
          {"inference_batch", inference_batch},
          {"flops_per_image", flops_per_image},
          {"weight_bytes", weight_bytes},
          {"grad_bytes", grad_bytes},
          {"optimizer_bytes", optimizer_bytes},
          {"train_activation_bytes", train_activation_bytes},
          {"per_sample_floats",
           {{"kept", model.train_kept_floats},
            {"transient", model.train_transient_floats},
            {"allocated", model.train_alloc_floats},
            {"inference", model.infer_peak_floats}}},
          {"infer_activation_bytes", infer_activation_bytes},
          {"loader_bytes", loader_bytes},
          {"dataset_bytes", dataset_bytes},
          {"baseline_bytes", baseline_bytes},
          {"peak_train_bytes", peak_train_bytes},
          {"peak_infer_bytes", peak_infer_bytes},
          {"images_per_s", images_per_s},
          {"machine_gflops", gflops},
          {"memory_limit_bytes", limit.bytes},
          {"memory_limit_source", limit.source},
          {"verdict", to_string(verdict)},
          {"inference_verdict", to_string(infer_verdict)},
          {"suggestion", verdict == CostVerdict::TooLarge ? suggestion() : std::string()}};
}

int64_t dataset_growth_bytes(const DataSource& source) {
  int64_t growth = 0;
  int64_t folder_items = 0, folder_cached = 0, folder_budget = 0, item_bytes = 0;
  for (const auto& part : {source.train, source.test}) {
    if (!part) continue;
    if (auto* f = dynamic_cast<const ImageFolderDataset*>(part.get())) {
      const ImageCacheStats s = f->cache_stats();
      folder_items += f->size();
      folder_cached = std::max(folder_cached, s.memory_bytes);  // shared budget: the same count
      item_bytes = f->sample_shape().numel();
      folder_budget = ImageFolderOptions{}.memory_budget_bytes;
    } else if (part->size() > 0 && part->pixels_u8(0)) {
      // In-memory data: the loaders' normalised float copies (train and
      // validation each up to their budget).
      growth += std::min<int64_t>(kLoaderFloatCache, part->size() * part->sample_shape().numel() * 4);
    }
  }
  if (folder_items > 0)
    growth += std::max<int64_t>(0, std::min(folder_items * item_bytes, folder_budget) - folder_cached);
  return growth;
}

CostRequest cost_request(const TrainConfig& config, const nlohmann::json& spec, const PreparedData& data) {
  CostRequest q;
  q.spec = spec;
  q.batch_size = config.batch_size;
  q.inference_batch = std::max(config.batch_size, 256);
  q.optimizer = config.optimizer.kind;
  q.train_images = int64_t(data.tv.train_indices.size());
  q.valid_images = int64_t(data.tv.valid_indices.size());
  q.dataset_growth_bytes = dataset_growth_bytes(data.source);
  return q;
}

int safe_inference_batch(const CostEstimate& e, int wanted) {
  const int64_t per_image = e.model.infer_peak_floats * 4 + e.model.input.numel() * 4 * 7;  // + loader copies
  const int64_t room =
      int64_t(kLargeShare * double(e.limit.bytes)) -
      (e.peak_infer_bytes - e.infer_activation_bytes - int64_t(e.inference_batch) * e.model.input.numel() * 4);
  if (per_image <= 0 || e.limit.bytes <= 0) return std::max(1, wanted);
  const int64_t fit = room / per_image;
  return int(std::clamp<int64_t>(fit, 1, std::max(1, wanted)));
}

void enforce_cost(const CostEstimate& e, bool force) {
  if (e.verdict == CostVerdict::TooLarge && !force) throw InputError("memory", e.refusal());
}

}  // namespace perceptra
