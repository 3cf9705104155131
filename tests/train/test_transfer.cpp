// Transfer learning pays off: a small ResNet trained on one generated dataset
// and fine-tuned (from_model, frozen epochs, discriminative LRs) on a small,
// different one at another image size beats the same architecture trained
// from scratch for the same number of epochs. Deterministic (seeds, one
// thread); if from_model were silently ignored the fine-tuned run would be
// the scratch run and the margin assertions fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/train/trainer.h"
#include "tests/train/tiny_data.h"

namespace fs = std::filesystem;
using namespace perceptra;
using namespace std::chrono_literals;

namespace {

// Target task, unlike the source's (which bar position): is the bar
// horizontal or vertical, wherever it is; noise up to `noise`, the bar
// `bar`..bar+40 brighter. Written at size x size (24: not the
// source's 16, so the folder is decoded to the pretrained model's input).
std::string make_orientation_dataset(const std::string& dir, int per_class, int size, uint32_t seed, int noise,
                                     int bar) {
  uint32_t s = seed * 2654435761u + 7;
  auto rnd = [&]() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  };
  for (int c = 0; c < 2; ++c) {
    auto cdir = fs::path(dir) / (c == 0 ? "horizontal" : "vertical");
    fs::create_directories(cdir);
    for (int i = 0; i < per_class; ++i) {
      std::ofstream f(cdir / ("img_" + std::to_string(i) + ".pgm"), std::ios::binary);
      f << "P5\n" << size << " " << size << "\n255\n";
      int line = 3 + static_cast<int>(rnd() % static_cast<uint32_t>(size - 6));
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          int v = static_cast<int>(rnd() % static_cast<uint32_t>(noise));
          int pos = c == 0 ? y : x;
          if (std::abs(pos - line) <= 1) v += bar + static_cast<int>(rnd() % 40);
          f.put(static_cast<char>(std::min(v, 255)));
        }
    }
  }
  return dir;
}

TrainConfig base_config(const std::string& dir, const std::string& data, int epochs) {
  TrainConfig c;
  c.data = data;
  c.model = "resnet-small";
  c.image_size = "16";
  c.epochs = epochs;
  c.batch_size = 8;
  c.optimizer.kind = "adam";
  c.optimizer.lr = 3e-3f;
  c.seed = 11;
  c.threads = 1;  // bitwise-reproducible reductions
  c.out_dir = dir + "/runs";
  c.db_path = "-";
  c.device = "cpu";
  return c;
}

struct Result {
  TrainEnd end;
  std::vector<EpochEnd> epochs;
};

Result run(const TrainConfig& c) {
  Trainer t(c);
  t.start();
  Result r;
  while (auto e = t.events().wait_pop(60000ms)) {
    if (auto* ep = std::get_if<EpochEnd>(&*e)) r.epochs.push_back(*ep);
    if (auto* end = std::get_if<TrainEnd>(&*e)) {
      r.end = *end;
      t.wait();
      return r;
    }
  }
  ADD_FAILURE() << "no TrainEnd within 60 s";
  t.stop();
  t.wait();
  return r;
}

}  // namespace

TEST(Transfer, FineTunedResNetBeatsScratchOnASmallDifferentDataset) {
  std::string dir = test::make_temp_dir("transfer-beats");
  // Source: 6 bar positions at 16x16, enough images to learn bar detectors.
  std::string src_data = test::make_tiny_dataset(dir + "/source", 6, 40, 16, 5);
  TrainConfig sc = base_config(dir, src_data, 3);
  Result src = run(sc);
  ASSERT_EQ(src.end.reason, EndReason::Done) << src.end.message;
  ASSERT_GT(src.end.final_valid_accuracy, 0.6) << "the source model must have learnt something";

  // Target: 2 classes, faint bars in strong noise, 4 training images each at
  // 24x24 (72 held out): too little for scratch, enough for a new head.
  // (With 8 each, scratch used to look far worse only because its BatchNorm
  // statistics were stale; with precise BatchNorm it reaches 0.89 there.)
  std::string dst_data = make_orientation_dataset(dir + "/target", 40, 24, 9, 100, 60);
  const int epochs = 2;  // 1 frozen + 1 unfrozen
  TrainConfig scratch = base_config(dir, dst_data, epochs);
  scratch.valid_pct = 90;
  scratch.batch_size = 4;
  Result s = run(scratch);
  ASSERT_EQ(s.end.reason, EndReason::Done) << s.end.message;

  TrainConfig ft = scratch;
  ft.from_model = src.end.model_path;
  ft.freeze_epochs = 1;
  ft.lr_mult = 10;
  Result f = run(ft);
  ASSERT_EQ(f.end.reason, EndReason::Done) << f.end.message;
  ASSERT_EQ(f.epochs.size(), static_cast<size_t>(epochs));
  ASSERT_EQ(s.epochs.size(), static_cast<size_t>(epochs));
  // Same split, same class count: only the starting weights differ.
  EXPECT_EQ(load_model(f.end.model_path).model->num_classes(), 2);
  EXPECT_EQ(load_model(f.end.model_path).model->input_shape(), Shape({1, 16, 16}));

  double fa = f.end.final_valid_accuracy, sa = s.end.final_valid_accuracy;
  double fl = f.end.final_valid_loss, sl = s.end.final_valid_loss;
  RecordProperty("finetuned_accuracy", std::to_string(fa));
  RecordProperty("scratch_accuracy", std::to_string(sa));
  std::printf("transfer: fine-tuned acc %.3f loss %.3f | scratch acc %.3f loss %.3f\n", fa, fl, sa, sl);
  EXPECT_GE(fa, 0.85);
  EXPECT_GE(fa, sa + 0.10);  // measured: 0.958 vs 0.792
  EXPECT_LT(fl, sl);
  // After the frozen epoch alone (only the new head trained) the fine-tuned
  // model is level with scratch's first epoch, not ahead: 0.611-0.653 against
  // 0.639 (72 images) depending on which convolution kernels trained the
  // source model (oneDNN's or our Winograd's rounding), so only "not more
  // than a few images behind" is checked here; the gap opens in the
  // unfrozen epoch (above).
  std::printf("first epoch: fine-tuned acc %.3f loss %.3f | scratch acc %.3f loss %.3f\n", f.epochs[0].valid_accuracy,
              f.epochs[0].valid_loss, s.epochs[0].valid_accuracy, s.epochs[0].valid_loss);
  EXPECT_GE(f.epochs[0].valid_accuracy, s.epochs[0].valid_accuracy - 0.05);
  fs::remove_all(dir);
}
