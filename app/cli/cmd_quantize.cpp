// perceptra-cli quantize: post-training static int8 quantisation of a model
// file, with the diff report (printed and stored in the int8 model file).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "core/data/resolve.h"
#include "core/io/model_file.h"
#include "core/quant/post_training.h"
#include "core/quant/quantized_file.h"
#include "core/tensor/error.h"
#include "core/train/setup.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli quantize --model FILE --data NAME|PATH --out FILE\n"
    "                              [--calibration N] [--method minmax|percentile|entropy]\n"
    "                              [--float-layers NAME,...] [--fallback-drop POINTS]\n"
    "                              [--eval-images N] [--sensitivity-images N]\n"
    "                              [--batch-size N] [--json]\n\n"
    "Post-training static int8 quantisation: per-output-channel symmetric int8\n"
    "weights (BatchNorm folded into the conv before it, ReLU fused), per-tensor\n"
    "activation scales calibrated on N training images (default 512) with the\n"
    "given method (default percentile). Then, on the dataset's test split (all\n"
    "images when it has none; --eval-images N: the first N), the accuracy drop\n"
    "of quantising each layer alone; layers losing more than --fallback-drop\n"
    "points (default 0.2; negative: never) stay float, as do --float-layers\n"
    "(--sensitivity-images N: measured on the first N only).\n"
    "Prints the diff report (float vs int8 accuracy overall and per class, the\n"
    "images whose prediction changed, per-layer sensitivity, file size and\n"
    "inference images/s of both; --json: as JSON) and stores it in --out.\n"
    "eval, predict and export (ONNX: a QDQ graph) read the int8 file.\n\n"
    "exit status: 0 ok, 1 bad model/data, 2 usage error\n";

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

// Images `indices` of `data`, normalised with the model's statistics.
Tensor load_images(const Dataset& data, const std::vector<int64_t>& indices, const ModelMeta& meta) {
  const Shape s = data.sample_shape();
  const int64_t per = s.numel(), C = s[0], plane = per / C;
  std::vector<float> v(size_t(per) * indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    float* px = v.data() + i * size_t(per);
    data.image(indices[i], px);
    if (!meta.mean.empty())
      for (int64_t c = 0; c < C; ++c)
        for (int64_t k = 0; k < plane; ++k)
          px[c * plane + k] = (px[c * plane + k] - meta.mean[size_t(c)]) / meta.std[size_t(c)];
  }
  std::vector<int64_t> dims = {int64_t(indices.size())};
  dims.insert(dims.end(), s.dims().begin(), s.dims().end());
  return Tensor::from_vector(Shape(dims), v);
}

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"model"},
                {"data"},
                {"out"},
                {"calibration"},
                {"method"},
                {"float-layers"},
                {"fallback-drop"},
                {"eval-images"},
                {"sensitivity-images"},
                {"batch-size"},
                {"json", false}});
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  auto model_path = a.get("model"), data_name = a.get("data"), out = a.get("out");
  if (!model_path) throw UsageError("--model FILE is required");
  if (!data_name) throw UsageError("--data NAME|PATH is required");
  if (!out) throw UsageError("--out FILE is required");
  quant::PtqOptions o;
  int64_t calibration = 512;
  if (auto v = a.get_int("calibration")) {
    if (*v < 0) throw UsageError("--calibration must not be negative");
    calibration = *v;
  }
  if (auto m = a.get("method")) {
    try {
      o.method = quant::parse_calibration_method(*m);
    } catch (const InputError&) {
      throw UsageError("--method must be minmax, percentile or entropy, got '" + *m + "'");
    }
  }
  if (auto f = a.get("float-layers")) {
    std::stringstream ss(*f);
    for (std::string name; std::getline(ss, name, ',');)
      if (!name.empty()) o.float_layers.push_back(name);
  }
  if (auto v = a.get_double("fallback-drop")) o.fallback_drop = *v / 100.0;
  int64_t eval_images = 0;
  if (auto v = a.get_int("eval-images")) {
    if (*v < 1) throw UsageError("--eval-images must be positive");
    eval_images = *v;
  }
  if (auto v = a.get_int("sensitivity-images")) {
    if (*v < 1) throw UsageError("--sensitivity-images must be positive");
    o.sensitivity_images = *v;
  }
  if (auto v = a.get_int("batch-size")) {
    if (*v < 1) throw UsageError("--batch-size must be positive");
    o.batch_size = int(*v);
  }
  const bool json = a.flag("json");
  o.progress = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };

  LoadedModel lm = load_model(*model_path);
  Model& model = *lm.model;
  DataSource src = open_dataset(*data_name, open_options_for(model.input_shape()));
  if (int(src.class_names.size()) != model.num_classes())
    throw InputError(*data_name, "has " + std::to_string(src.class_names.size()) + " classes but the model predicts " +
                                     std::to_string(model.num_classes()));
  if (src.train->sample_shape() != model.input_shape())
    throw InputError(*data_name, "images are " + src.train->sample_shape().str() + " but the model takes " +
                                     model.input_shape().str());
  // Calibration: evenly spaced training images (deterministic, every part of the set).
  std::vector<int64_t> cal;
  const int64_t n_train = src.train->size();
  calibration = std::min(calibration, n_train);
  for (int64_t i = 0; i < calibration; ++i) cal.push_back(i * n_train / calibration);
  Tensor cal_images = load_images(*src.train, cal, lm.meta);

  const Dataset& ev = src.test ? *src.test : *src.train;
  int64_t n_eval = ev.size();
  if (eval_images) n_eval = std::min(n_eval, eval_images);
  std::vector<int64_t> idx(static_cast<size_t>(n_eval));
  quant::LabeledImages eval;
  for (int64_t i = 0; i < n_eval; ++i) {
    idx[size_t(i)] = i;
    eval.labels.push_back(ev.label(i));
  }
  eval.images = load_images(ev, idx, lm.meta);

  auto names = lm.meta.class_names.empty() ? src.class_names : lm.meta.class_names;
  quant::PtqResult r = quant::quantize_post_training(model, cal_images, &eval, o, names);
  r.report["data"] = *data_name;
  r.report["eval_split"] = src.test ? "test" : "all images";
  r.report["float_model"] = *model_path;
  r.report["float_file_bytes"] = file_size(*model_path);
  // The report holds the int8 file's own size: write, measure, write again.
  for (int i = 0; i < 3; ++i) {
    quant::save_quantized_model(*out, *r.qmodel, lm.meta, r.report);
    const uint64_t size = file_size(*out);
    if (r.report.value("int8_file_bytes", uint64_t(0)) == size) break;
    r.report["int8_file_bytes"] = size;
  }
  if (json)
    std::printf("%s\n", r.report.dump().c_str());
  else
    std::printf("%s", quant::format_report(r.report).c_str());
  std::fprintf(stderr, "wrote %s (%s)\n", out->c_str(), r.qmodel->describe().c_str());
  return 0;
}

int run(const std::vector<std::string>& args) { return run_command("quantize", kUsage, args, body); }
Registrar reg({"quantize", "int8 post-training quantisation with a diff report", run});

}  // namespace
}  // namespace perceptra::cli
