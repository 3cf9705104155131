// Loader throughput with augmentation on (crop+pad, flip, rotation,
// brightness/contrast), beside SimpleCNN's training throughput on the same
// data and batch size, so we can see whether data is ever the bottleneck.
// Fashion-MNIST when installed, else the bundled sample data.
//
// Then photos: a folder of JPEGs of mixed sizes (320x240..800x600) generated
// here, decoded to 224x224 (crop): the first epoch decodes (cold), later
// epochs read the cache of resized images; with 1 decode thread and with
// the default count. --photos 0 skips it, --photos-only skips the rest.
//
//   bench_loader [--data NAME|PATH] [--batch 128] [--epochs 3] [--train-batches 30]
//                [--photos 384] [--photos-only 1]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <filesystem>

#include "core/backend/cpu/cpu_omp_policy.h"
#include "core/data/image_decode.h"
#include "core/data/image_folder.h"
#include "core/data/loader.h"
#include "core/data/workers.h"
#include "core/data/resolve.h"
#include "core/data/split.h"
#include "core/nn/loss.h"
#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/tensor/error.h"

using namespace perceptra;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Photo-like JPEGs (smooth background, shapes, a little noise: the entropy of
// a camera picture more than of pure noise), sizes 320x240..800x600.
static std::string make_photo_folder(int n) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("perceptra-bench-photos-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const int sizes[][2] = {{320, 240}, {800, 600}, {640, 480}, {480, 640},
                          {512, 384}, {600, 450}, {400, 300}, {720, 540}};
  cv::RNG rng(1);
  for (int i = 0; i < n; ++i) {
    const int w = sizes[i % 8][0], h = sizes[i % 8][1];
    cv::Mat m(h, w, CV_8UC3);
    cv::Mat small(h / 16, w / 16, CV_8UC3);
    rng.fill(small, cv::RNG::UNIFORM, 0, 255);
    cv::resize(small, m, m.size(), 0, 0, cv::INTER_CUBIC);
    for (int k = 0; k < 6; ++k)
      cv::circle(m, cv::Point(rng.uniform(0, w), rng.uniform(0, h)), rng.uniform(10, h / 3),
                 cv::Scalar(rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)), cv::FILLED);
    cv::Mat noise(h, w, CV_8UC3);
    rng.fill(noise, cv::RNG::NORMAL, 0, 6);
    m += noise;
    const fs::path cls = dir / ("class" + std::to_string(i % 4));
    fs::create_directories(cls);
    cv::imwrite((cls / ("photo" + std::to_string(i) + ".jpg")).string(), m, {cv::IMWRITE_JPEG_QUALITY, 90});
  }
  return dir.string();
}

// One epoch's images/s of a fresh loader over `data` (cold: nothing cached).
static double epoch_rate(DataLoader& loader, int64_t epoch) {
  auto t0 = Clock::now();
  loader.start_epoch(epoch);
  Batch b;
  int64_t n = 0;
  while (loader.next(b)) n += b.images.dim(0);
  return double(n) / seconds_since(t0);
}

static void bench_photos(int n, int64_t batch) {
  auto t0 = Clock::now();
  const std::string dir = make_photo_folder(n);
  std::printf("\nphotos: %d JPEGs 320x240..800x600 generated in %.1f s, decoded to 224x224 (crop), batch %lld\n", n,
              seconds_since(t0), (long long)batch);
  for (int threads : {1, default_decode_threads()}) {
    ImageFolderOptions fo;
    fo.height = fo.width = 224;
    ImageFolderReport report;
    auto t1 = Clock::now();
    auto ds = load_image_folder(dir, fo, &report);
    const double open_s = seconds_since(t1);
    LoaderOptions lo;
    lo.batch_size = batch;
    lo.workers = threads;
    lo.seed = 1;
    lo.augment.hflip = lo.augment.resized_crop = true;
    DataLoader loader(ds, {}, lo);
    const int64_t d0 = image_decode_count();
    const double cold = epoch_rate(loader, 0);
    const int64_t decoded = image_decode_count() - d0;
    std::vector<double> warm;
    for (int e = 1; e <= 3; ++e) warm.push_back(epoch_rate(loader, e));
    LoaderOptions plain = lo;
    plain.augment = {};
    DataLoader plain_loader(ds, {}, plain);
    const double cached_plain = epoch_rate(plain_loader, 0);
    auto* folder = dynamic_cast<const ImageFolderDataset*>(ds.get());
    std::printf(
        "  %d thread%s: open %.3f s (headers only); epoch 1 (decode) %7.0f images/s (%lld decodes); "
        "cached epochs %7.0f images/s (flip + resized crop), %7.0f without augmentation; "
        "cache %.0f MB in memory\n",
        threads, threads == 1 ? " " : "s", open_s, cold, (long long)decoded, median(warm), cached_plain,
        folder ? double(folder->cache_stats().memory_bytes) / (1 << 20) : 0.0);
  }
  std::filesystem::remove_all(dir);
}

int main(int argc, char** argv) {
  perceptra::apply_omp_wait_policy(argv);  // first: may re-execute the program
  std::string data;
  int64_t batch = 128, train_batches = 30;
  int epochs = 3, photos = 384;
  bool photos_only = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--data")
      data = argv[i + 1];
    else if (a == "--batch")
      batch = std::stoll(argv[i + 1]);
    else if (a == "--epochs")
      epochs = std::stoi(argv[i + 1]);
    else if (a == "--train-batches")
      train_batches = std::stoll(argv[i + 1]);
    else if (a == "--photos")
      photos = std::stoi(argv[i + 1]);
    else if (a == "--photos-only")
      photos_only = std::string(argv[i + 1]) != "0";
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  try {
    if (photos_only) {
      bench_photos(std::max(photos, 8), std::min<int64_t>(batch, 64));
      return 0;
    }
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
    std::printf("data: %s, %lld training images %s, batch %lld\n", src.name.c_str(), (long long)tv.train_indices.size(),
                tv.train_data->sample_shape().str().c_str(), (long long)batch);

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
      if (e == 0)
        first = r;
      else
        rates.push_back(r);
    }
    double loader_rate = rates.empty() ? first : median(rates);
    std::printf("loader, augmentation on (all four): %10.0f images/s  (first epoch incl. cache: %.0f)\n", loader_rate,
                first);

    LoaderOptions plain = lo;
    plain.augment = {};
    DataLoader plain_loader(tv.train_data, tv.train_indices, plain);
    plain_loader.start_epoch(0);
    {
      Batch b;
      while (plain_loader.next(b)) {}
    }
    auto t0 = Clock::now();
    plain_loader.start_epoch(1);
    int64_t n = 0;
    {
      Batch b;
      while (plain_loader.next(b)) n += b.images.dim(0);
    }
    std::printf("loader, augmentation off:           %10.0f images/s\n", double(n) / seconds_since(t0));

    // SimpleCNN training steps fed by the augmenting loader (prefetching).
    Rng rng(0);
    auto model = Model::from_spec(
        Model::builtin_spec("simplecnn", tv.train_data->sample_shape(), tv.train_data->num_classes()), rng);
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
    if (photos > 0) bench_photos(photos, std::min<int64_t>(batch, 64));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_loader: %s\n", e.what());
    return 1;
  }
}
