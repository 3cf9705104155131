// perceptra-cli predict: class and probability of image files.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "core/backend/backend.h"
#include "core/data/image_folder.h"
#include "core/io/model_file.h"
#include "core/tensor/error.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli predict --model FILE [--top K] [--json] IMAGE...\n\n"
    "Decodes each image (converted and resized to the model's input with the resize\n"
    "policy training used, normalised as in training) and prints the predicted class\n"
    "and its probability (--top K: the K best). --json prints one object per image.\n\n"
    "exit status: 0 ok, 1 unreadable image or model, 2 usage error\n";

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"model"}, {"top"}, {"json", false}});
  auto model_path = a.get("model");
  if (!model_path) throw UsageError("--model FILE is required");
  if (a.positional().empty()) throw UsageError("no IMAGE given");
  int top = 1;
  if (auto v = a.get_int("top")) {
    if (*v < 1) throw UsageError("--top must be positive");
    top = static_cast<int>(*v);
  }
  LoadedModel lm = load_model(*model_path);
  Model& model = *lm.model;
  const Shape in = model.input_shape();
  if (in.rank() != 3) throw InputError(*model_path, "model input is not an image [C,H,W]");
  const int C = static_cast<int>(in[0]), H = static_cast<int>(in[1]), W = static_cast<int>(in[2]);
  const int K = model.num_classes();
  top = std::min(top, K);
  const auto& images = a.positional();
  const int64_t n = static_cast<int64_t>(images.size());
  // Resized the way training resized the folder (older files: squish).
  const ResizePolicy policy =
      lm.meta.resize.empty() ? ResizePolicy::squish : parse_resize_policy(lm.meta.resize);
  std::vector<float> batch(static_cast<size_t>(n) * C * H * W);
  const int64_t plane = int64_t(H) * W;
  for (int64_t i = 0; i < n; ++i) {
    float* px = batch.data() + i * C * plane;
    decode_image_file(images[i], C, H, W, px, policy);
    if (!lm.meta.mean.empty())
      for (int c = 0; c < C; ++c)
        for (int64_t k = 0; k < plane; ++k)
          px[c * plane + k] = (px[c * plane + k] - lm.meta.mean[c]) / lm.meta.std[c];
  }
  Tensor x = Tensor::from_vector(Shape({n, C, H, W}), batch);
  Tensor logits = model.infer(x);
  Tensor probs = Tensor::empty(logits.shape());
  backend_for(Device::cpu()).softmax(logits.data(), probs.data(), static_cast<int>(n), K);
  auto p = probs.to_vector();
  auto name = [&](int c) {
    return c < static_cast<int>(lm.meta.class_names.size()) ? lm.meta.class_names[c]
                                                            : std::to_string(c);
  };
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int> order(K);
    std::iota(order.begin(), order.end(), 0);
    const float* row = p.data() + i * K;
    std::stable_sort(order.begin(), order.end(), [&](int x1, int x2) { return row[x1] > row[x2]; });
    if (a.flag("json")) {
      nlohmann::json t = nlohmann::json::array();
      for (int k = 0; k < top; ++k) t.push_back({{"class", name(order[k])}, {"index", order[k]}, {"probability", row[order[k]]}});
      nlohmann::json j = {{"image", images[i]}, {"class", name(order[0])}, {"index", order[0]},
                          {"probability", row[order[0]]}, {"top", t}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s\t%s\t%.4f", images[i].c_str(), name(order[0]).c_str(), row[order[0]]);
      for (int k = 1; k < top; ++k) std::printf("\t%s\t%.4f", name(order[k]).c_str(), row[order[k]]);
      std::printf("\n");
    }
  }
  return 0;
}

int run(const std::vector<std::string>& args) { return run_command("predict", kUsage, args, body); }
Registrar reg({"predict", "classify image files with a model", run});

}  // namespace
}  // namespace perceptra::cli
