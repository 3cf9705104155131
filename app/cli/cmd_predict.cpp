// perceptra-cli predict: class and probability of image files.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/terminal_text.h"
#include "core/tensor/bounded_json.h"
#include "core/backend/backend.h"
#include "core/data/image_folder.h"
#include "core/io/model_file.h"
#include "core/quant/quantized_file.h"
#include "core/tensor/error.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli predict --model FILE [--top K] [--json] IMAGE...\n\n"
    "Decodes each image (converted and resized to the model's input with the resize\n"
    "policy training used, normalised as in training) and prints the predicted class\n"
    "and its probability (--top K: the K best). --json prints one object per image.\n\n"
    "An image that cannot be read is reported on stderr (with --json also as\n"
    "{\"image\", \"error\"}) and skipped; the others are still classified.\n\n"
    "exit status: 0 ok, 1 unreadable model or any unreadable image, 2 usage error\n";

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
  LoadedModel lm = quant::load_any_model(*model_path);  // float or int8
  Model& model = *lm.model;
  const Shape in = model.input_shape();
  if (in.rank() != 3) throw InputError(*model_path, "model input is not an image [C,H,W]");
  const int C = static_cast<int>(in[0]), H = static_cast<int>(in[1]), W = static_cast<int>(in[2]);
  const int K = model.num_classes();
  top = std::min(top, K);
  // Resized the way training resized the folder (older files: squish).
  const ResizePolicy policy = lm.meta.resize.empty() ? ResizePolicy::squish : parse_resize_policy(lm.meta.resize);
  // Each image on its own: a bad one is reported (naming it) and skipped,
  // the others are still classified; the exit status says some failed.
  std::vector<std::string> images;
  std::vector<float> batch;
  const int64_t plane = int64_t(H) * W;
  int failed = 0;
  for (const auto& path : a.positional()) {
    std::vector<float> px(size_t(C) * size_t(plane));
    try {
      decode_image_file(path, C, H, W, px.data(), policy);
    } catch (const InputError& e) {
      ++failed;
      if (a.flag("json")) std::printf("%s\n", dump_json_safe({{"image", path}, {"error", e.problem()}}).c_str());
      std::fprintf(stderr, "perceptra-cli predict: %s\n", printable(e.what()).c_str());
      continue;
    }
    // Metadata was validated against the model when loaded: one mean and
    // std per input channel, or none.
    if (!lm.meta.mean.empty())
      for (int c = 0; c < C; ++c)
        for (int64_t k = 0; k < plane; ++k)
          px[size_t(c * plane + k)] = (px[size_t(c * plane + k)] - lm.meta.mean[size_t(c)]) / lm.meta.std[size_t(c)];
    batch.insert(batch.end(), px.begin(), px.end());
    images.push_back(path);
  }
  const int64_t n = static_cast<int64_t>(images.size());
  if (n == 0) return 1;
  Tensor x = Tensor::from_vector(Shape({n, C, H, W}), batch);
  Tensor logits = model.infer(x);
  Tensor probs = Tensor::empty(logits.shape());
  backend_for(Device::cpu()).softmax(logits.data(), probs.data(), static_cast<int>(n), K);
  auto p = probs.to_vector();
  auto name = [&](int c) {
    return c < static_cast<int>(lm.meta.class_names.size()) ? lm.meta.class_names[size_t(c)] : std::to_string(c);
  };
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int> order(K);
    std::iota(order.begin(), order.end(), 0);
    const float* row = p.data() + i * K;
    std::stable_sort(order.begin(), order.end(), [&](int x1, int x2) { return row[x1] > row[x2]; });
    if (a.flag("json")) {
      nlohmann::json t = nlohmann::json::array();
      for (int k = 0; k < top; ++k)
        t.push_back({{"class", name(order[k])}, {"index", order[k]}, {"probability", row[order[k]]}});
      nlohmann::json j = {{"image", images[size_t(i)]},
                          {"class", name(order[0])},
                          {"index", order[0]},
                          {"probability", row[order[0]]},
                          {"top", t}};
      std::printf("%s\n", dump_json_safe(j).c_str());
    } else {
      // Names come from files: no terminal escapes.
      std::printf("%s\t%s\t%.4f", printable(images[size_t(i)]).c_str(), printable(name(order[0])).c_str(),
                  row[order[0]]);
      for (int k = 1; k < top; ++k) std::printf("\t%s\t%.4f", printable(name(order[k])).c_str(), row[order[k]]);
      std::printf("\n");
    }
  }
  if (failed) return 1;
  return 0;
}

int run(const std::vector<std::string>& args) { return run_command("predict", kUsage, args, body); }
Registrar reg({"predict", "classify image files with a model", run});

}  // namespace
}  // namespace perceptra::cli
