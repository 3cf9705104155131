// Loader throughput with augmentation on (crop+pad, flip, rotation,
// brightness/contrast), beside SimpleCNN's training throughput on the same
// data and batch size, so we can see whether data is ever the bottleneck.
// Fashion-MNIST when installed, else the bundled sample data.
//
//   bench_loader [--data NAME|PATH] [--batch 128] [--epochs 3] [--train-batches 30]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/data/loader.h"
#include "core/data/resolve.h"
#include "core/data/split.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/tensor/error.h"

using namespace perceptra;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main(int argc, char** argv) {
  perceptra::apply_omp_wait_policy(argv);  // first: may re-execute the program
  std::string data;
  int64_t batch = 128, train_batches = 30;
  int epochs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--data") data = argv[i + 1];
    else if (a == "--batch") batch = std::stoll(argv[i + 1]);
    else if (a == "--epochs") epochs = std::stoi(argv[i + 1]);
    else if (a == "--train-batches") train_batches = std::stoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    DataSource src;
    if (!data.empty()) {
      src = open_dataset(data);
    } else {
      try {
        src = open_dataset("fashion-mnist");
      } catch (const InputError& e) {
        std::printf("(%s; using the bundled sample data)\n", e.what());
        src = open_dataset("sample");
      }
    }
    SplitOptions so;
    TrainValid tv = prepare_train_valid(src, so);
    std::printf("data: %s, %lld training images %s, batch %lld\n", src.name.c_str(),
                (long long)tv.train_indices.size(), tv.train_data->sample_shape().str().c_str(),
                (long long)batch);

    LoaderOptions lo;
    lo.batch_size = batch;
    lo.seed = 1;
    lo.norm = tv.norm;
    lo.augment.crop = lo.augment.hflip = lo.augment.rotate = lo.augment.color = true;

    // Loader alone: the first epoch includes building the float cache.
    DataLoader loader(tv.train_data, tv.train_indices, lo);
    std::vector<double> rates;
    double first = 0;
    for (int e = 0; e < epochs; ++e) {
      auto t0 = Clock::now();
      loader.start_epoch(e);
      Batch b;
      int64_t n = 0;
      while (loader.next(b)) n += b.images.dim(0);
      double r = double(n) / seconds_since(t0);
      if (e == 0) first = r;
      else rates.push_back(r);
    }
    double loader_rate = rates.empty() ? first : median(rates);
    std::printf("loader, augmentation on (all four): %10.0f images/s  (first epoch incl. cache: %.0f)\n",
                loader_rate, first);

    LoaderOptions plain = lo;
    plain.augment = {};
    DataLoader plain_loader(tv.train_data, tv.train_indices, plain);
    plain_loader.start_epoch(0);
    { Batch b; while (plain_loader.next(b)) {} }
    auto t0 = Clock::now();
    plain_loader.start_epoch(1);
    int64_t n = 0;
    { Batch b; while (plain_loader.next(b)) n += b.images.dim(0); }
    std::printf("loader, augmentation off:           %10.0f images/s\n", double(n) / seconds_since(t0));

    // SimpleCNN training steps fed by the augmenting loader (prefetching).
    Rng rng(0);
    auto model = Model::from_spec(
        Model::builtin_spec("simplecnn", tv.train_data->sample_shape(), tv.train_data->num_classes()),
        rng);
    OptimizerConfig oc;
    auto opt = make_optimizer(oc, model->parameters());
    SoftmaxCrossEntropy loss;
    DataLoader train_loader(tv.train_data, tv.train_indices, lo);
    train_loader.start_epoch(0);
    Batch b;
    int64_t steps = 0, images = 0;
    double wait = 0;
    Clock::time_point start;
    while (steps < train_batches + 3) {
      auto w0 = Clock::now();
      if (!train_loader.next(b)) {
        train_loader.start_epoch(steps);
        continue;
      }
      if (steps == 3) {  // warm-up done
        start = Clock::now();
        wait = 0;
        images = 0;
      } else if (steps > 3) {
        wait += seconds_since(w0);
      }
      Tensor logits = model->forward(b.images, true);
      loss.forward(logits, b.labels);
      model->backward(loss.backward(), /*need_input_grad=*/false);
      opt->step();
      if (steps >= 3) images += b.images.dim(0);
      ++steps;
    }
    double train_rate = double(images) / seconds_since(start);
    std::printf("SimpleCNN training (loader feeding): %10.0f images/s, %.1f%% of the time waiting for data\n",
                train_rate, 100.0 * wait / seconds_since(start));
    std::printf("ratio loader/training:              %10.1fx\n", loader_rate / train_rate);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: %s\n", e.what());
    return 1;
  }
}
