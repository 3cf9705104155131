// Our side of bench/run: trains a built-in model on Fashion-MNIST with the
// trainer's code paths (DataLoader with its prefetch thread, Model forward/
// backward, SoftmaxCrossEntropy, the SGD optimizer) and prints one JSON line
// with training and inference throughput, test accuracy and peak RSS, in the
// same format as bench/torch_reference.py.
//
//   bench_train --model simplecnn [--batch-size 128] [--epochs 2] [--lr 0.05]
//               [--momentum 0.9] [--threads 2] [--train-limit N] [--seed 0]
//               [--profile]                 per-op time shares (CPU backend)
//   bench_train --spec simplecnn            prints the model spec JSON (for PyTorch)
//   bench_train --gemm                      sgemm GFLOP/s, backend vs oneDNN direct
#include <dnnl.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_profile.h"
#include "core/data/loader.h"
#include "core/data/resolve.h"
#include "core/data/split.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/tensor/error.h"

using namespace perceptra;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // kB on Linux
}

const Shape kFashionInput{1, 28, 28};

int usage() {
  std::fprintf(stderr,
               "usage: bench_train --model NAME [--batch-size N] [--epochs N] [--lr X]\n"
               "         [--momentum X] [--threads N] [--train-limit N] [--seed S] [--profile]\n"
               "       bench_train --spec NAME\n"
               "       bench_train --gemm [--threads N]\n");
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
            cpu_backend().gemm(false, false, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f,
                               c.data(), n);
        }
        best = std::max(best, 2.0 * n * n * (double)n * reps / seconds_since(t0) / 1e9);
      }
      return best;
    };
    double ours = run(false), dnnl = run(true);
    rows.push_back({{"n", n}, {"backend_gflops", ours}, {"onednn_gflops", dnnl}});
  }
  return {{"gemm", rows}, {"threads", cpu_threads()}, {"backend", cpu_backend().describe()}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name, spec_name;
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
      if (a == "--model") model_name = value();
      else if (a == "--spec") spec_name = value();
      else if (a == "--batch-size") batch = std::stoll(value());
      else if (a == "--epochs") epochs = std::stoi(value());
      else if (a == "--lr") lr = std::stof(value());
      else if (a == "--momentum") momentum = std::stof(value());
      else if (a == "--threads") threads = std::stoi(value());
      else if (a == "--train-limit") train_limit = std::stoll(value());
      else if (a == "--seed") seed = std::stoull(value());
      else if (a == "--profile") profile = true;
      else if (a == "--gemm") gemm = true;
      else return usage();
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
      std::printf("%s\n", gemm_bench().dump().c_str());
      return 0;
    }
    if (model_name.empty()) return usage();

    DataSource src = open_dataset("fashion-mnist");
    SplitOptions so;
    so.official_test = true;
    so.seed = seed;
    TrainValid tv = prepare_train_valid(src, so);
    if (train_limit > 0 && (size_t)train_limit < tv.train_indices.size())
      tv.train_indices.resize((size_t)train_limit);

    Rng rng(seed);
    auto model = Model::from_spec(Model::builtin_spec(model_name, kFashionInput, 10), rng);
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
    for (int e = 0; e < epochs; ++e) {
      train.start_epoch(e);
      Batch b;
      auto t0 = Clock::now();
      while (train.next(b)) {
        Tensor logits = model->forward(b.images, true);
        last_loss = loss.forward(logits, b.labels);
        model->backward(loss.backward());
        opt->step();
        seen += b.labels.numel();
      }
      train_s += seconds_since(t0);
    }
    std::vector<CpuOpStat> ops;
    if (profile) {
      cpu_profile_enable(false);
      ops = cpu_profile_take();
    }

    // Inference over the official test set, batch by batch, eval mode.
    LoaderOptions eo;
    eo.batch_size = batch;
    eo.shuffle = false;
    eo.norm = tv.norm;
    DataLoader test(tv.valid_data, tv.valid_indices, eo);
    Batch b;
    test.start_epoch(0);
    test.next(b);  // builds the cache (untimed, see above)
    test.start_epoch(0);
    int64_t correct = 0, total = 0;
    double infer_s = 0;
    if (profile) cpu_profile_enable(true);
    while (test.next(b)) {
      auto t0 = Clock::now();
      Tensor logits = model->forward(b.images, false);
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
              {"backend", cpu_backend().describe()},
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
    }
    std::printf("%s\n", r.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
}
