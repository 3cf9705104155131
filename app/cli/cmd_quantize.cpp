// perceptra-cli quantize: post-training static int8 quantisation of a model
// file, with the diff report (printed and stored in the int8 model file).
#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "core/data/resolve.h"
#include "core/io/model_file.h"
#include "core/quant/int8_export.h"
#include "core/tensor/error.h"
#include "core/train/setup.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli quantize --model FILE --data NAME|PATH --out FILE\n"
    "                              [--calibration N] [--method minmax|percentile|entropy]\n"
    "                              [--float-layers NAME,...] [--fallback-drop POINTS]\n"
    "                              [--holdout N] [--eval-images N] [--sensitivity-images N]\n"
    "                              [--batch-size N] [--json]\n\n"
    "Post-training static int8 quantisation: per-output-channel symmetric int8\n"
    "weights (BatchNorm folded into the conv before it, ReLU fused), per-tensor\n"
    "activation scales calibrated on N training images (default 512) with the\n"
    "given method (default percentile). Then, on --holdout further training\n"
    "images (default 2000, none of them a calibration image; 0: the evaluation\n"
    "images), the accuracy drop of quantising each layer alone; a layer stays\n"
    "float when its drop exceeds --fallback-drop points (default 0.2; negative:\n"
    "never) and two standard errors of that drop (noise), as do --float-layers\n"
    "(--sensitivity-images N: measured on the first N only). The report's\n"
    "accuracy is measured on the dataset's test split (all images when it has\n"
    "none; --eval-images N: the first N).\n"
    "Prints the diff report (float vs int8 accuracy overall and per class, the\n"
    "images whose prediction changed, per-layer sensitivity, file size and\n"
    "inference images/s of both; --json: as JSON) and stores it in --out.\n"
    "eval, predict and export (ONNX: a QDQ graph) read the int8 file.\n\n"
    "exit status: 0 ok, 1 bad model/data, 2 usage error\n";

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"model"},
                {"data"},
                {"out"},
                {"calibration"},
                {"method"},
                {"float-layers"},
                {"fallback-drop"},
                {"eval-images"},
                {"holdout"},
                {"sensitivity-images"},
                {"batch-size"},
                {"json", false}});
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  auto model_path = a.get("model"), data_name = a.get("data"), out = a.get("out");
  if (!model_path) throw UsageError("--model FILE is required");
  if (!data_name) throw UsageError("--data NAME|PATH is required");
  if (!out) throw UsageError("--out FILE is required");
  quant::PtqOptions o;
  quant::PtqDataOptions d;
  if (auto v = a.get_int("calibration")) {
    if (*v < 0) throw UsageError("--calibration must not be negative");
    d.calibration = *v;
  }
  if (auto v = a.get_int("holdout")) {
    if (*v < 0) throw UsageError("--holdout must not be negative");
    d.holdout = *v;
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
  if (auto v = a.get_int("eval-images")) {
    if (*v < 1) throw UsageError("--eval-images must be positive");
    d.eval_images = *v;
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
  DataSource src = open_dataset(*data_name, open_options_for(lm.model->input_shape()));
  quant::Int8Export r = quant::quantize_model_file(std::move(lm), *model_path, src, *data_name, d, o);
  quant::write_int8_model(*out, r);
  const nlohmann::json& report = r.result.report;
  if (json)
    std::printf("%s\n", report.dump().c_str());
  else
    std::printf("%s", quant::format_report(report).c_str());
  std::fprintf(stderr, "wrote %s (%s)\n", out->c_str(), r.result.qmodel->describe().c_str());
  return 0;
}

int run(const std::vector<std::string>& args) { return run_command("quantize", kUsage, args, body); }
Registrar reg({"quantize", "int8 post-training quantisation with a diff report", run});

}  // namespace
}  // namespace perceptra::cli
