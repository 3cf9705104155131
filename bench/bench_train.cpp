// Our side of bench/run: trains a built-in model on Fashion-MNIST with the
// trainer's code paths (DataLoader, Model forward/backward,
// SoftmaxCrossEntropy, the SGD optimizer) and prints one JSON line
// with training and inference throughput, test accuracy and peak RSS, in the
// same format as bench/torch_reference.py.
//
//   bench_train --model simplecnn [--batch-size 128] [--epochs 2] [--lr 0.05]
//               [--momentum 0.9] [--threads 2] [--train-limit N] [--seed 0]
//               [--profile]                 per-op time shares (CPU backend)
//   bench_train --spec simplecnn            prints the model spec JSON (for PyTorch)
//   bench_train --gemm                      sgemm GFLOP/s, backend vs oneDNN direct
//   --trace DIR    writes DIR/init.f32 (initial parameters and buffers in
//                  model order), DIR/order.i64 (dataset index of every sample
//                  in training order) and DIR/loss.f32 (loss of every step) so
//                  torch_reference.py --replay DIR can train PyTorch from the
//                  same start on the same batches
//   --init FILE    starts from these parameters (e.g. torch_reference.py
//                  --dump-init) instead of the seeded initialisation
//   --export-onnx FILE  after training, exports the trained model to ONNX
//                  (normalisation inside the graph, as perceptra-cli export
//                  writes it) for the ONNX Runtime and OpenCV DNN peers
//   --device D     cpu (default) or cuda:N: scripts/gpu-check runs both
//   --no-train-fusion  layer-by-layer training forward (no conv + ReLU
//                  fusion, core/nn/train_fusion.h): the "before" of bench/run
//   --order FILE   trains on the samples in this order (int64 dataset indices,
//                  all epochs; e.g. torch_reference.py --dump-order) instead
//                  of the loader's shuffle
#include <dnnl.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <memory>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/backend/cpu/cpu_conv_impl.h"
#include "core/backend/cpu/cpu_profile.h"
#include "core/data/loader.h"
#include "core/data/resolve.h"
#include "core/data/split.h"
#include "core/io/onnx_export.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/nn/train_fusion.h"
#include "core/optim/optimizer.h"
#include "core/tensor/device.h"
#include "core/tensor/error.h"

using namespace perceptra;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // kB on Linux
}

const Shape kFashionInput{1, 28, 28};

template <typename T>
void write_raw(const std::string& path, const std::vector<T>& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
  if (!f) throw Error("bench_train: cannot write " + path);
}

std::vector<int64_t> read_order(const std::string& path, size_t expected) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw InputError(path, "cannot open");
  const auto bytes = size_t(f.tellg());
  if (bytes != expected * sizeof(int64_t))
    throw InputError(path, std::to_string(bytes / sizeof(int64_t)) + " indices, expected " + std::to_string(expected));
  std::vector<int64_t> v(expected);
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(bytes));
  return v;
}

std::vector<float> model_state(Model& m) {
  std::vector<float> all;
  for (Parameter* p : m.parameters()) {
    std::vector<float> v = p->value.to_vector();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

void load_model_state(Model& m, const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(path, "cannot open");
  for (Parameter* p : m.parameters()) {
    std::vector<float> v(size_t(p->value.numel()));
    f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
    if (!f) throw InputError(path, "too short for parameter " + p->name);
    p->value.copy_from(Tensor::from_vector(p->value.shape(), v));
  }
  if (f.peek() != EOF) throw InputError(path, "longer than the model's parameters");
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_train --model NAME [--batch-size N] [--epochs N] [--lr X]\n"
               "         [--momentum X] [--threads N] [--train-limit N] [--seed S] [--profile]\n"
               "         [--trace DIR] [--init FILE] [--order FILE] [--export-onnx FILE]\n"
               "         [--device cpu|cuda:N] [--no-train-fusion] [--precision f32|bf16]\n"
               "       bench_train --spec NAME\n"
               "       bench_train --gemm [--threads N] [--precision f32|bf16]\n");
  return 2;
}

// GFLOP/s of square sgemm, through the backend and through dnnl_sgemm itself.
json gemm_bench() {
  json rows = json::array();
  for (int n : {128, 256, 512, 1024, 2048}) {
    std::vector<float> a((size_t)n * n, 0.5f), b((size_t)n * n, 0.25f), c((size_t)n * n);
    auto run = [&](bool direct) {
      double best = 0;
      const int reps = n <= 256 ? 50 : n <= 1024 ? 5 : 2;
      for (int rep = 0; rep < 3; ++rep) {
        auto t0 = Clock::now();
        for (int i = 0; i < reps; ++i) {
          if (direct)
            dnnl_sgemm('N', 'N', n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
          else
            cpu_backend().gemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
        }
        best = std::max(best, 2.0 * n * n * (double)n * reps / seconds_since(t0) / 1e9);
      }
      return best;
    };
    double ours = run(false), dnnl = run(true);
    rows.push_back({{"n", n}, {"backend_gflops", ours}, {"onednn_gflops", dnnl}});
  }
  return {{"gemm", rows},
          {"threads", cpu_threads()},
          {"backend", cpu_backend().describe()},
          {"precision", precision_name(cpu_backend().precision())}};
}

}  // namespace

int main(int argc, char** argv) {
  perceptra::apply_omp_wait_policy(argv);  // first: may re-execute the program
  std::string model_name, spec_name, trace_dir, init_file, order_file, onnx_file, device_name = "cpu";
  Precision precision = Precision::F32;
  int64_t batch = 128, train_limit = 0;
  int epochs = 2, threads = 2;
  float lr = 0.05f, momentum = 0.9f;
  uint64_t seed = 0;
  bool profile = false, gemm = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw InputError("bench_train", "option " + a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--model")
        model_name = value();
      else if (a == "--spec")
        spec_name = value();
      else if (a == "--batch-size")
        batch = std::stoll(value());
      else if (a == "--epochs")
        epochs = std::stoi(value());
      else if (a == "--lr")
        lr = std::stof(value());
      else if (a == "--momentum")
        momentum = std::stof(value());
      else if (a == "--threads")
        threads = std::stoi(value());
      else if (a == "--train-limit")
        train_limit = std::stoll(value());
      else if (a == "--seed")
        seed = std::stoull(value());
      else if (a == "--profile")
        profile = true;
      else if (a == "--trace")
        trace_dir = value();
      else if (a == "--init")
        init_file = value();
      else if (a == "--order")
        order_file = value();
      else if (a == "--export-onnx")
        onnx_file = value();
      else if (a == "--device")
        device_name = value();
      else if (a == "--precision")
        precision = parse_precision(value(), "--precision");
      else if (a == "--no-train-fusion")
        set_training_fusion(false);
      else if (a == "--gemm")
        gemm = true;
      else
        return usage();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_train: %s\n", e.what());
      return usage();
    }
  }
  try {
    if (!spec_name.empty()) {
      std::printf("%s\n", Model::builtin_spec(spec_name, kFashionInput, 10).dump(1).c_str());
      return 0;
    }
    if (threads > 0) set_cpu_threads(threads);
    if (gemm) {
      cpu_backend().set_precision(precision);  // the backend's column then shows bf16 matmul
      std::printf("%s\n", gemm_bench().dump().c_str());
      return 0;
    }
    if (model_name.empty()) return usage();

    DataSource src = open_dataset("fashion-mnist");
    SplitOptions so;
    so.official_test = true;
    so.seed = seed;
    TrainValid tv = prepare_train_valid(src, so);
    if (train_limit > 0 && (size_t)train_limit < tv.train_indices.size()) tv.train_indices.resize((size_t)train_limit);

    Rng rng(seed);
    auto model = Model::from_spec(Model::builtin_spec(model_name, kFashionInput, 10), rng);
    if (!init_file.empty()) load_model_state(*model, init_file);
    if (!trace_dir.empty()) write_raw(trace_dir + "/init.f32", model_state(*model));
    // An explicit cuda:N that cannot be used throws with the reason.
    const Device device = resolve_device(DeviceRequest::parse(device_name), nullptr);
    model->to(device);
    backend_for(device).set_precision(precision);  // throws with the reason when unavailable
    std::vector<int64_t> trace_order;
    std::vector<float> trace_loss;
    OptimizerConfig oc;
    oc.kind = "sgd";
    oc.lr = lr;
    oc.momentum = momentum;
    auto opt = make_optimizer(oc, model->parameters());
    opt->set_lr(lr);
    opt->set_momentum(momentum);

    LoaderOptions lo;  // as the trainer builds it
    lo.batch_size = batch;
    lo.shuffle = true;
    lo.seed = seed;
    lo.norm = tv.norm;
    DataLoader train(tv.train_data, tv.train_indices, lo);
    SoftmaxCrossEntropy loss;

    // Data preparation stays outside the timings, as in torch_reference.py
    // (which normalises the arrays before its clock starts): the first batch
    // makes the loader build its normalised float cache.
    {
      Batch warm;
      train.start_epoch(0);
      train.next(warm);
    }
    if (profile) cpu_profile_enable(true);
    double train_s = 0, last_loss = 0;
    int64_t seen = 0;
    std::vector<int64_t> order;
    if (!order_file.empty()) order = read_order(order_file, size_t(epochs) * tv.train_indices.size());
    for (int e = 0; e < epochs; ++e) {
      std::unique_ptr<DataLoader> given;  // --order: one unshuffled loader per epoch
      if (!order.empty()) {
        const auto n = tv.train_indices.size();
        std::vector<int64_t> idx(order.begin() + e * n, order.begin() + (e + 1) * n);
        LoaderOptions go = lo;
        go.shuffle = false;
        given = std::make_unique<DataLoader>(tv.train_data, idx, go);
      }
      DataLoader& src_loader = given ? *given : train;
      src_loader.start_epoch(e);
      Batch b;
      auto t0 = Clock::now();
      while (src_loader.next(b)) {
        Tensor logits = model->forward(b.images.to(device), true);
        last_loss = loss.forward(logits, b.labels.to(device));
        model->backward(loss.backward(), /*need_input_grad=*/false);
        opt->step();
        seen += b.labels.numel();
        if (!trace_dir.empty()) {
          trace_order.insert(trace_order.end(), b.indices.begin(), b.indices.end());
          trace_loss.push_back(float(last_loss));
        }
      }
      train_s += seconds_since(t0);
    }
    if (!trace_dir.empty()) {
      write_raw(trace_dir + "/order.i64", trace_order);
      write_raw(trace_dir + "/loss.f32", trace_loss);
    }
    std::vector<CpuOpStat> ops;
    if (profile) {
      cpu_profile_enable(false);
      ops = cpu_profile_take();
    }
    if (!onnx_file.empty()) {
      ModelMeta meta;
      meta.mean = tv.norm.mean;
      meta.std = tv.norm.std;
      export_onnx(onnx_file, *model, meta);
    }

    // Inference over the official test set, batch by batch, eval mode.
    LoaderOptions eo;
    eo.batch_size = batch;
    eo.shuffle = false;
    eo.norm = tv.norm;
    // The loader builds these batches on this thread, between the timed
    // passes (a gather from its float cache: core/data/loader.h), as the
    // peers slice their preloaded arrays.
    DataLoader test(tv.valid_data, tv.valid_indices, eo);
    Batch b;
    const WeightsHeld held;  // as evaluate() and the studio's predictions do
    test.start_epoch(0);
    test.next(b);  // builds the cache (untimed, see above)
    // One untimed batch, as ort_infer.js does: the pass's own primitives
    // (packed Linear weights) are made once per process, not per pass.
    model->infer(b.images.to(device)).to_vector();
    test.start_epoch(0);
    int64_t correct = 0, total = 0;
    double infer_s = 0;
    if (profile) cpu_profile_enable(true);
    while (test.next(b)) {
      auto t0 = Clock::now();
      Tensor logits = model->infer(b.images.to(device));
      std::vector<float> out = logits.to_vector();
      infer_s += seconds_since(t0);
      std::vector<float> labels = b.labels.to_vector();
      const int C = model->num_classes();
      for (size_t i = 0; i < labels.size(); ++i) {
        const float* row = out.data() + i * C;
        correct += (std::max_element(row, row + C) - row) == std::lround(labels[i]);
      }
      total += (int64_t)labels.size();
    }

    std::vector<CpuOpStat> infer_ops;
    if (profile) {
      cpu_profile_enable(false);
      infer_ops = cpu_profile_take();
    }

    json r = {{"framework", "perceptra"},
              {"backend", device.is_cpu() ? cpu_backend().describe() : device.str()},
              {"device", device.str()},
              {"train_fusion", training_fusion()},
              {"precision", precision_name(precision)},
              {"model", model_name},
              {"parameters", model->parameter_count()},
              {"batch_size", batch},
              {"threads", cpu_threads()},
              {"epochs", epochs},
              {"train_images", (int64_t)tv.train_indices.size()},
              {"train_images_per_s", seen / train_s},
              {"infer_images_per_s", total / infer_s},
              {"test_accuracy", total ? double(correct) / total : 0.0},
              {"final_train_loss", last_loss},
              {"peak_rss_mb", peak_rss_mb()}};
    if (profile) {
      double all = 0, heavy = 0;
      json per_op = json::object();
      for (const auto& s : ops) {
        all += s.seconds;
        if (s.heavy) heavy += s.seconds;
        per_op[s.name] = {{"seconds", s.seconds}, {"calls", s.calls}};
      }
      r["profile"] = {{"train_seconds", train_s},
                      {"op_seconds", all},
                      {"gemm_conv_seconds", heavy},
                      // Everything the step spends outside sgemm/convolution:
                      // other backend ops plus layer/loader/optimizer overhead.
                      {"share_outside_gemm_conv", train_s > 0 ? 1.0 - heavy / train_s : 0.0},
                      {"ops", per_op}};
      json infer = json::object();
      for (const auto& st : infer_ops) infer[st.name] = {{"seconds", st.seconds}, {"calls", st.calls}};
      r["profile"]["infer_seconds"] = infer_s;
      r["profile"]["infer_ops"] = infer;
      // Which kernel each convolution shape ended on (Auto), with both times.
      json choices = json::array();
      for (const ConvChoice& c : conv_choices()) {
        const ConvGeometry& g = c.key.g;
        char shape[96];
        std::snprintf(shape, sizeof shape, "n%d %dx%dx%d k%d %dx%d s%d%s", g.N, g.C, g.H, g.W, g.K, g.R, g.S,
                      g.stride_h, c.key.bias ? " bias" : "");
        choices.push_back({{"shape", shape},
                           {"pass", conv_choice_pass_name(c.key.pass)},
                           {"kernel", c.onednn ? "onednn" : "im2col"},
                           {"onednn_ms", c.onednn_ms},
                           {"im2col_ms", c.im2col_ms}});
      }
      r["profile"]["conv_choices"] = choices;
    }
    std::printf("%s\n", r.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
}
