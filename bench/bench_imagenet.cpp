// ImageNet-size models on the CPU backend: inference and training images/s of
// the torchvision built-ins (resnet18, resnet34, mobilenet_v2) at 224x224 on
// random inputs (batch norm's running statistics taken from the batch
// first, as torch_imagenet.py does), and the same with the im2col reference
// convolution (--im2col), which shows what oneDNN's depthwise kernels are
// worth. One JSON line per model, like bench_train.
//
//   bench_imagenet [--models resnet18,mobilenet_v2] [--size 224] [--batch 16]
//                  [--threads 2] [--repeats 3] [--train] [--im2col] [--precision f32|bf16]
//                  [--export-onnx PREFIX] [--profile]
// --export-onnx writes, per model and as timed for inference (before any
// training step), PREFIX-<model>.onnx (no normalisation in the graph), its
// input batch PREFIX-<model>.input.f32 and our logits on it
// PREFIX-<model>.logits.f32 (float32, row-major): bench/run runs the same
// file and batch in ONNX Runtime and checks its logits against ours.
// --profile (with --train) runs `repeats` more training steps under the CPU
// backend's per-op timers (core/backend/cpu/cpu_profile.h) and reports their
// wall seconds and each op's, as bench_train --profile does; the timed
// numbers come from the steps before, without the timers.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/backend/cpu/cpu_profile.h"
#include "core/io/onnx_export.h"
#include "core/nn/batchnorm.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"

using namespace perceptra;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Median seconds of `repeats` runs of f after one warm-up (primitive creation).
template <class F>
double median_seconds(int repeats, F f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = Clock::now();
    f();
    t.push_back(seconds_since(t0));
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Raw float32 values, or false when the file cannot be written.
bool write_floats(const std::string& path, const std::vector<float>& v) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
  return bool(f.flush());
}

void for_each_batchnorm(const std::vector<Layer*>& layers, const std::function<void(BatchNorm&)>& f) {
  for (Layer* l : layers) {
    if (auto* bn = dynamic_cast<BatchNorm*>(l)) f(*bn);
    for_each_batchnorm(l->children(), f);
  }
}
// Every BatchNorm's running statistics from one training-mode forward on x
// (a plain average, here of that one batch), as torch_imagenet.py does: with
// the initial ones (mean 0, variance 1) eval mode does not normalise, and
// MobileNetV2's activations shrink to ~1e-8 with logits that no longer
// depend on the input (the exported model's check against ONNX Runtime
// would then see only the classifier's bias).
void calibrate_batchnorm(Model& model, const Tensor& x) {
  for_each_batchnorm(model.layers(), [](BatchNorm& bn) { bn.set_cumulative(true); });
  model.forward(x, true);
  for_each_batchnorm(model.layers(), [](BatchNorm& bn) { bn.set_cumulative(false); });
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // kB on Linux
}

}  // namespace

int main(int argc, char** argv) {
  apply_omp_wait_policy(argv);  // first: may re-execute the program
  std::string models = "resnet18,mobilenet_v2";
  int size = 224, batch = 16, threads = 2, repeats = 3;
  bool train = false, im2col = false, profile = false;
  std::string precision_text = "f32", export_prefix;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--models")
      models = value();
    else if (a == "--size")
      size = std::stoi(value());
    else if (a == "--batch")
      batch = std::stoi(value());
    else if (a == "--threads")
      threads = std::stoi(value());
    else if (a == "--repeats")
      repeats = std::stoi(value());
    else if (a == "--train")
      train = true;
    else if (a == "--im2col")
      im2col = true;
    else if (a == "--precision")
      precision_text = value();
    else if (a == "--export-onnx")
      export_prefix = value();
    else if (a == "--profile")
      profile = true;
    else {
      std::fprintf(stderr,
                   "usage: bench_imagenet [--models a,b] [--size N] [--batch N] "
                   "[--threads N] [--repeats N] [--train] [--im2col] [--precision f32|bf16] "
                   "[--export-onnx PREFIX] [--profile]\n");
      return 2;
    }
  }
  set_cpu_threads(threads);
  if (im2col) set_cpu_conv_impl(CpuConvImpl::Im2col);
  Precision precision = Precision::F32;
  try {
    precision = parse_precision(precision_text, "--precision");
    cpu_backend().set_precision(precision);
  } catch (const std::exception& e) {  // an unknown name, or bf16 without AVX-512 BF16: the reason
    std::fprintf(stderr, "bench_imagenet: %s\n", e.what());
    return 2;
  }
  std::stringstream list(models);
  std::string name;
  while (std::getline(list, name, ',')) {
    Rng rng(1);
    const Shape in{3, size, size};
    auto model = Model::from_spec(Model::builtin_spec(name, in, 1000), rng);
    std::vector<float> xv(static_cast<size_t>(batch) * 3 * size * size);
    for (auto& v : xv) v = rng.normal(0.f, 1.f);
    Tensor x = Tensor::from_vector(Shape{batch, 3, size, size}, xv);
    calibrate_batchnorm(*model, x);
    double infer_s = 0;
    {
      // As evaluate() and the studio's predictions run batches: in one held
      // pass (WeightsHeld), weights folded and laid out once, not per batch.
      const WeightsHeld pass;
      infer_s = median_seconds(repeats, [&] { model->infer(x); });
      if (!export_prefix.empty()) {
        const std::string base = export_prefix + "-" + name;
        try {
          export_onnx(base + ".onnx", *model, ModelMeta{});
        } catch (const std::exception& e) {
          std::fprintf(stderr, "bench_imagenet: %s\n", e.what());
          return 1;
        }
        if (!write_floats(base + ".input.f32", xv) ||
            !write_floats(base + ".logits.f32", model->infer(x).to_vector())) {
          std::fprintf(stderr, "bench_imagenet: cannot write %s.input.f32 / .logits.f32\n", base.c_str());
          return 1;
        }
      }
    }
    nlohmann::json r = {{"model", name},
                        {"input", in.dims()},
                        {"batch", batch},
                        {"threads", cpu_threads()},
                        {"conv", im2col ? "im2col" : "auto (oneDNN)"},
                        {"precision", precision_name(precision)},
                        {"parameters", model->parameter_count()},
                        {"infer_images_per_s", batch / infer_s}};
    if (train) {
      std::vector<float> labels(static_cast<size_t>(batch));
      for (int i = 0; i < batch; ++i) labels[size_t(i)] = float(i % 1000);
      Tensor y = Tensor::from_vector(Shape{batch}, labels);
      OptimizerConfig oc;
      oc.kind = "sgd";
      oc.lr = 0.01f;
      oc.momentum = 0.9f;
      auto opt = make_optimizer(oc, model->parameters());
      SoftmaxCrossEntropy loss;
      auto step = [&] {
        loss.forward(model->forward(x, true), y);
        model->backward(loss.backward(), false);
        opt->step();
      };
      r["train_images_per_s"] = batch / median_seconds(repeats, step);
      if (profile) {
        cpu_profile_enable(true);
        const auto t0 = Clock::now();
        for (int i = 0; i < repeats; ++i) step();
        const double wall = seconds_since(t0);
        cpu_profile_enable(false);
        nlohmann::json ops = nlohmann::json::object();
        for (const CpuOpStat& op : cpu_profile_take()) ops[op.name] = {{"seconds", op.seconds}, {"calls", op.calls}};
        r["profile"] = {{"train_seconds", wall}, {"train_steps", repeats}, {"ops", ops}};
      }
    }
    r["peak_rss_mb"] = peak_rss_mb();
    std::printf("%s\n", r.dump().c_str());
    std::fflush(stdout);
  }
  return 0;
}
