// Float vs int8 inference throughput of the engine on the Fashion-MNIST test
// set (same images, same batch size, same threads), and the two models'
// accuracy and file size. Prints one JSON line per model.
//
//   bench_quant --model M.pmodel --int8 M8.pmodel   trained files (quantize's output)
//   bench_quant --builtin simplecnn                 seeded weights, quantised here
//               [--float-layers NAME]...            (builtin: layers kept float)
//               [--batch-size 128] [--repeats 5] [--images N] [--threads 2]
//   --ort-predictions FILE   int32 classes from bench/ort_predict.js (the QDQ
//                            export in ONNX Runtime): prints the share of
//                            test images where they equal the engine's int8
//   --bn-reestimate N        (trained files) the float model's accuracy with
//                            its BatchNorm statistics re-estimated on N
//                            training images: says whether the stored
//                            running statistics are stale
// With trained files it also prints the float model's accuracy with every
// conv+BatchNorm folded (the int8 plan's float path, nothing quantised):
// folding must not change the float predictions beyond rounding.
// Prints a text summary line to stderr: images/s of both and the ratio.
// Timings: median over repeats of one pass over the images each (the first
// pass, which builds the primitives, is not timed).
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backend/cpu/cpu_backend.h"
#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/data/resolve.h"
#include "core/io/model_file.h"
#include "core/quant/post_training.h"
#include "core/quant/quantized_file.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"

using namespace perceptra;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

struct Timed {
  double images_per_s = 0, accuracy = 0;
};

Timed measure(Model& m, const Tensor& images, const std::vector<int>& labels, int batch, int repeats,
              std::vector<int>* predictions = nullptr) {
  auto infer = [&](const Tensor& x) { return m.infer(x); };
  std::vector<int> pred = quant::predict_classes(infer, images, batch);  // warm-up
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    double s = 0;
    quant::predict_classes(infer, images, batch, &s);
    rates.push_back(double(images.dim(0)) / s);
  }
  size_t ok = 0;
  for (size_t i = 0; i < labels.size(); ++i) ok += pred[i] == labels[i];
  if (predictions) *predictions = pred;
  return {median(rates), double(ok) / double(labels.size())};
}

}  // namespace

int main(int argc, char** argv) {
  // First: idle OpenMP threads sleep instead of spinning (may re-execute);
  // on a shared machine spinning threads otherwise dominate the profile.
  apply_omp_wait_policy(argv);
  int threads = 0;
  std::string model_path, int8_path, builtin, ort_path;
  std::vector<std::string> float_layers;
  int batch = 128, repeats = 5;
  int64_t limit = 0, bn_images = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_quant: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model")
      model_path = next();
    else if (a == "--int8")
      int8_path = next();
    else if (a == "--builtin")
      builtin = next();
    else if (a == "--batch-size")
      batch = std::stoi(next());
    else if (a == "--repeats")
      repeats = std::stoi(next());
    else if (a == "--images")
      limit = std::stoll(next());
    else if (a == "--ort-predictions")
      ort_path = next();
    else if (a == "--bn-reestimate")
      bn_images = std::stoll(next());
    else if (a == "--float-layers")
      float_layers.push_back(next());
    else if (a == "--threads")
      threads = std::stoi(next());  // libgomp read OMP_NUM_THREADS before main: set it through the backend
    else {
      std::fprintf(stderr,
                   "usage: bench_quant (--model M --int8 M8 | --builtin NAME) "
                   "[--batch-size N] [--repeats N] [--images N] [--threads N]\n");
      return 2;
    }
  }
  if (threads > 0) set_cpu_threads(threads);
  try {
    DataSource src = open_dataset("fashion-mnist");
    const Dataset& test = *src.test;
    const int64_t n = limit ? std::min(limit, test.size()) : test.size();
    std::vector<float> px(size_t(n) * 784);
    std::vector<int> labels;
    for (int64_t i = 0; i < n; ++i) {
      test.image(i, px.data() + i * 784);
      labels.push_back(test.label(i));
    }
    ModelMeta meta;
    std::unique_ptr<Model> float_model, int8_model;
    std::shared_ptr<quant::QuantizedModel> built;
    if (!builtin.empty()) {
      Rng rng(0);
      float_model = Model::from_spec(Model::builtin_spec(builtin, Shape{1, 28, 28}, 10), rng);
      meta.mean = {0.2860f};
      meta.std = {0.3530f};
    } else {
      if (model_path.empty() || int8_path.empty())
        throw InputError("bench_quant", "give --model and --int8, or --builtin NAME");
      LoadedModel f = load_model(model_path);
      float_model = std::move(f.model);
      meta = f.meta;
      LoadedModel q = quant::load_any_model(int8_path);
      if (!q.model->inference_override())
        throw InputError(int8_path, "is not an int8 model (perceptra-cli quantize writes one)");
      int8_model = std::move(q.model);
    }
    if (!meta.mean.empty())
      for (auto& v : px) v = (v - meta.mean[0]) / meta.std[0];
    Tensor images = Tensor::from_vector(Shape{n, 1, 28, 28}, px);
    quant::QuantizedModel* qm = nullptr;
    if (!builtin.empty()) {
      // Seeded weights: calibrate on 512 test images (speed does not depend on the values).
      quant::PtqOptions o;
      o.method = quant::CalibrationMethod::MinMax;
      o.float_layers = float_layers;
      built =
          quant::quantize_post_training(*float_model, images.slice(0, std::min<int64_t>(512, n)), nullptr, o).qmodel;
      qm = built.get();
    } else {
      qm = dynamic_cast<quant::QuantizedModel*>(int8_model->inference_override());
    }
    Timed f = measure(*float_model, images, labels, batch, repeats);
    Timed q;
    std::vector<int> qpred;
    if (int8_model) {
      q = measure(*int8_model, images, labels, batch, repeats, &qpred);
    } else {
      float_model->set_inference_override(built);
      q = measure(*float_model, images, labels, batch, repeats, &qpred);
      float_model->set_inference_override(nullptr);
    }
    nlohmann::json j = {{"model", builtin.empty() ? model_path : builtin},
                        {"images", n},
                        {"batch_size", batch},
                        {"repeats", repeats},
                        {"threads", cpu_threads()},
                        {"omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : ""},
                        {"int8", qm ? qm->describe() : ""},
                        {"float_images_per_s", f.images_per_s},
                        {"int8_images_per_s", q.images_per_s},
                        {"speedup", q.images_per_s / f.images_per_s},
                        {"float_accuracy", f.accuracy},
                        {"int8_accuracy", q.accuracy}};
    if (!builtin.empty()) {
      j.erase("float_accuracy");
      j.erase("int8_accuracy");
    } else {
      j["float_file_bytes"] = file_size(model_path);
      j["int8_file_bytes"] = file_size(int8_path);
      j["size_ratio"] = double(file_size(int8_path)) / double(file_size(model_path));
    }
    if (builtin.empty()) {
      // The fold: the plan's float path with nothing quantised.
      quant::QuantizedModel folded(*float_model);
      std::vector<int> fp =
          quant::predict_classes([&](const Tensor& x) { return folded.infer_float(x, {}); }, images, batch);
      std::vector<int> up =
          quant::predict_classes([&](const Tensor& x) { return float_model->infer(x); }, images, batch);
      size_t ok = 0, same = 0;
      for (size_t i = 0; i < labels.size(); ++i) {
        ok += fp[i] == labels[i];
        same += fp[i] == up[i];
      }
      j["float_folded_accuracy"] = double(ok) / double(labels.size());
      j["float_folded_disagreements"] = labels.size() - same;
    }
    if (builtin.empty() && bn_images > 0) {
      // Running statistics re-estimated for the final weights: forward passes
      // in training mode over training images (weights untouched); with
      // momentum 0.1 the statistics forget their training-time values after
      // a few dozen batches.
      LoadedModel fresh = load_model(model_path);
      const Dataset& train = *src.train;
      const int64_t m = std::min(bn_images, train.size());
      std::vector<float> tp(size_t(batch) * 784);
      for (int64_t b = 0; b < m; b += batch) {
        const int64_t e = std::min(m, b + batch);
        for (int64_t i = b; i < e; ++i) {
          float* p = tp.data() + (i - b) * 784;
          train.image(i * (train.size() / m), p);
          if (!meta.mean.empty())
            for (int k = 0; k < 784; ++k) p[k] = (p[k] - meta.mean[0]) / meta.std[0];
        }
        fresh.model->forward(
            Tensor::from_vector(Shape{e - b, 1, 28, 28}, std::vector<float>(tp.begin(), tp.begin() + (e - b) * 784)),
            true);
      }
      std::vector<int> rp =
          quant::predict_classes([&](const Tensor& x) { return fresh.model->infer(x); }, images, batch);
      size_t ok = 0;
      for (size_t i = 0; i < labels.size(); ++i) ok += rp[i] == labels[i];
      j["float_bn_reestimated_accuracy"] = double(ok) / double(labels.size());
      j["bn_reestimate_images"] = m;
    }
    if (!ort_path.empty()) {
      std::ifstream f(ort_path, std::ios::binary);
      std::string b(std::istreambuf_iterator<char>(f), {});
      if (b.size() < qpred.size() * sizeof(int32_t))
        throw InputError(ort_path, "holds " + std::to_string(b.size() / 4) + " predictions for " +
                                       std::to_string(qpred.size()) + " images");
      size_t same = 0;
      for (size_t i = 0; i < qpred.size(); ++i) {
        int32_t p;
        std::memcpy(&p, b.data() + i * sizeof(int32_t), sizeof p);
        same += p == qpred[i];
      }
      j["ort_agreement"] = double(same) / double(qpred.size());
      j["ort_disagreements"] = qpred.size() - same;
    }
    std::printf("%s\n", j.dump().c_str());
    std::fprintf(stderr, "%s: float %.0f images/s, int8 %.0f images/s, int8/float %.2fx (batch %d, %d threads)\n",
                 j["model"].get<std::string>().c_str(), f.images_per_s, q.images_per_s, q.images_per_s / f.images_per_s,
                 batch, cpu_threads());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_quant: %s\n", e.what());
    return 1;
  }
  return 0;
}
