// A folder of ordinary photos (JPEGs from 320x240 to 800x600) through the
// CLI as a new user would: data info picks 224x224, train --image-size 224
// trains and records the size and policy, predict resizes files the same
// way. Epoch timings and the cache's effect are in bench/bench_loader.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs the CLI in `dir` (arguments are temp paths without quotes or spaces).
Result cli(const std::string& args, const fs::path& dir) {
  const std::string cmd = "cd '" + dir.string() + "' && '" PERCEPTRA_CLI "' " + args + " > stdout.txt 2> stderr.txt";
  const int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir / "stdout.txt");
  r.err = slurp(dir / "stderr.txt");
  return r;
}

// Two classes a photo model can tell apart at any size: a bright disc on the
// left or on the right of a textured background.
void make_photos(const fs::path& root, int per_class) {
  const int sizes[][2] = {{320, 240}, {800, 600}, {640, 480}, {480, 640}, {512, 384}, {600, 450}};
  cv::RNG rng(5);
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < per_class; ++i) {
      const int w = sizes[i % 6][0], h = sizes[i % 6][1];
      cv::Mat m(h, w, CV_8UC3);
      rng.fill(m, cv::RNG::UNIFORM, 20, 90);
      cv::GaussianBlur(m, m, cv::Size(0, 0), 3);
      const int cx = c == 0 ? w / 4 : 3 * w / 4;
      cv::circle(m, cv::Point(cx, h / 2), std::min(w, h) / 5, cv::Scalar(60, 200, 240), cv::FILLED);
      fs::create_directories(root / (c == 0 ? "left" : "right"));
      cv::imwrite((root / (c == 0 ? "left" : "right") / ("p" + std::to_string(i) + ".jpg")).string(), m);
    }
}

}  // namespace

TEST(CliPhotos, PhotoFolderTrainsAt224AndPredictUsesTheSamePolicy) {
  const fs::path dir = fs::temp_directory_path() / ("perceptra-cli-photos-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  make_photos(dir / "photos", 8);
  // Stride-4 convolutions and global pooling: quick at 224x224 on a CPU.
  std::ofstream(dir / "small.json") << json{
      {"name", "photo-small"},
      {"layers",
       {{{"type", "conv2d"}, {"out_channels", 8}, {"kernel", 5}, {"stride", 4}, {"padding", 2}},
        {{"type", "relu"}},
        {{"type", "conv2d"}, {"out_channels", 16}, {"kernel", 3}, {"stride", 2}, {"padding", 1}},
        {{"type", "relu"}},
        {{"type", "global_avgpool"}},
        {{"type", "linear"},
         {"out_features", 2}}}}}.dump();

  // What a new user sees: 224x224 (not the first photo's size), crop.
  Result r = cli("data info photos --json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json info = json::parse(r.out);
  EXPECT_EQ(info["shape"], json({3, 224, 224}));
  EXPECT_EQ(info["resize"], "crop");
  r = cli("data info photos --image-size 96x128 --resize pad", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("3x96x128"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pad"), std::string::npos) << r.out;
  r = cli("data info photos --image-size 0", dir);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--image-size"), std::string::npos) << r.err;

  r =
      cli("train --data photos --image-size 224 --model small.json --epochs 2 --batch-size 8 "
          "--lr 0.05 --valid-pct 25 --device cpu --db p.db --out runs --json --augment flip,resized-crop=0.5",
          dir);
  ASSERT_EQ(r.code, 0) << r.err;
  json end;
  int epochs = 0;
  std::stringstream ss(r.out);
  for (std::string line; std::getline(ss, line);) {
    if (line.empty()) continue;
    json e = json::parse(line);
    if (e["event"] == "epoch_end") ++epochs;
    if (e["event"] == "train_end") end = e;
  }
  EXPECT_EQ(epochs, 2);
  ASSERT_EQ(end["reason"], "done") << r.err;
  const std::string model = end["model_path"];

  // The policy travels with the model: predict and eval resize the same way.
  r = cli("export --model " + model + " --format native --out copy.pmodel", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  std::string header = slurp(dir / "copy.pmodel").substr(0, 4096);
  EXPECT_NE(header.find("\"resize\":\"crop\""), std::string::npos);
  r = cli("predict --model " + model + " --json photos/left/p0.jpg photos/right/p1.jpg", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  r = cli("eval --model " + model + " --data photos --json", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["samples"], 16);

  // A bad size in the config is named.
  r = cli("train --data photos --image-size 224x --model small.json --epochs 1 --db - --out runs", dir);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("image_size"), std::string::npos) << r.err;
  fs::remove_all(dir);
}
