// perceptra-cli eval: a model file against a dataset.
#include <cstdio>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "app/cli/terminal_text.h"
#include "core/backend/backend.h"
#include "core/tensor/bounded_json.h"
#include "core/data/split.h"
#include "core/io/model_file.h"
#include "core/quant/quantized_file.h"
#include "core/tensor/error.h"
#include "core/train/evaluate.h"
#include "core/train/setup.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli eval --model FILE --data NAME|PATH [--json] [--valid-pct P]\n"
    "                          [--seed S] [--batch-size N] [--top-k K] [--threads N]\n"
    "                          [--precision f32|bf16]\n\n"
    "Evaluates a model file (or checkpoint) on the dataset's official test split when\n"
    "it has one, else on all of its images; --valid-pct P --seed S evaluates on the\n"
    "validation part of the split training used instead. Images are normalised with\n"
    "the statistics stored in the model file. Prints accuracy, loss, top-k accuracy,\n"
    "per-class precision/recall/F1 and the confusion matrix (--json: one object, with\n"
    "images_per_s: inference speed of the forward passes alone, data loading excluded).\n"
    "--precision bf16 runs the matrix products and convolutions on bfloat16 inputs with\n"
    "float32 accumulation, as training's --precision does (CPU with AVX-512 BF16).\n\n"
    "exit status: 0 ok, 1 bad model/data, 2 usage error\n";

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"model"},
                {"data"},
                {"json", false},
                {"valid-pct"},
                {"seed"},
                {"batch-size"},
                {"top-k"},
                {"threads"},
                {"precision"}});
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  auto model_path = a.get("model");
  auto data_name = a.get("data");
  if (!model_path) throw UsageError("--model FILE is required");
  if (!data_name) throw UsageError("--data NAME|PATH is required");
  EvalOptions eo;
  if (auto v = a.get_int("batch-size")) {
    if (*v < 1) throw UsageError("--batch-size must be positive");
    eo.batch_size = static_cast<int>(*v);
  }
  if (auto v = a.get_int("top-k")) {
    if (*v < 1) throw UsageError("--top-k must be positive");
    eo.top_k = static_cast<int>(*v);
  }
  if (auto v = a.get_int("threads")) {
    if (*v < 1) throw UsageError("--threads must be positive");
    setenv("OMP_NUM_THREADS", std::to_string(*v).c_str(), 1);
  }
  Precision precision = Precision::F32;
  if (auto v = a.get("precision")) {
    if (*v != "f32" && *v != "bf16") throw UsageError("--precision must be f32 or bf16, not '" + *v + "'");
    precision = parse_precision(*v, "--precision");
  }
  // Checked before any file is read; set for this process (eval runs once).
  Backend& be = backend_for(Device::cpu());
  if (const std::string why = be.precision_unavailable(precision); !why.empty())
    throw UsageError("--precision " + std::string(precision_name(precision)) + ": " + why);
  be.set_precision(precision);
  auto vp = a.get_double("valid-pct");
  if (vp && !(*vp > 0 && *vp < 100)) throw UsageError("--valid-pct must be in (0, 100)");
  auto seed = a.get_int("seed");

  LoadedModel lm = quant::load_any_model(*model_path);  // float or int8
  Model& model = *lm.model;
  OpenOptions oo = open_options_for(model.input_shape(), lm.meta.resize);
  oo.test_split_only = !vp;  // the training images are not needed for the test split
  DataSource src = open_dataset(*data_name, oo);
  if (static_cast<int>(src.class_names.size()) != model.num_classes())
    throw InputError(*data_name, "has " + std::to_string(src.class_names.size()) + " classes but the model predicts " +
                                     std::to_string(model.num_classes()));
  std::shared_ptr<const Dataset> data;
  std::vector<int64_t> indices;
  std::string which;
  if (vp) {
    SplitOptions so;
    so.valid_pct = *vp / 100.0;
    so.seed = seed ? static_cast<uint64_t>(*seed) : 0;
    Split s = make_split(*src.train, so);
    data = src.train;
    indices = s.valid;
    which = "validation split";
  } else if (src.test) {
    data = src.test;
    which = "test split";
  } else {
    data = src.train;
    which = "all images";
  }
  NormStats norm;
  norm.mean = lm.meta.mean;
  norm.std = lm.meta.std;
  EvalResult r = evaluate(model, data, indices, norm, eo);
  const auto& m = r.metrics;
  auto names = lm.meta.class_names.empty() ? src.class_names : lm.meta.class_names;
  if (a.flag("json")) {
    nlohmann::json j = {{"model", *model_path},
                        {"data", *data_name},
                        {"split", which},
                        {"samples", m.count()},
                        {"accuracy", m.accuracy()},
                        {"loss", m.mean_loss()},
                        {"error_rate", m.error_rate()},
                        {"top_k", m.top_k()},
                        {"top_k_accuracy", m.top_k_accuracy()},
                        {"classes", names},
                        {"precision", m.precision()},
                        {"recall", m.recall()},
                        {"f1", m.f1()},
                        {"confusion", m.confusion()},
                        {"seconds", r.seconds},
                        {"forward_seconds", r.forward_seconds},
                        {"images_per_s", r.forward_seconds > 0 ? m.count() / r.forward_seconds : 0.0},
                        {"arithmetic", precision_name(precision)}};
    std::printf("%s\n", dump_json_safe(j).c_str());
    return 0;
  }
  std::printf("%s on %s (%s, %lld images)\n", model_path->c_str(), data_name->c_str(), which.c_str(),
              static_cast<long long>(m.count()));
  std::printf("accuracy %.4f  loss %.4f  error rate %.4f  top-%d accuracy %.4f\n", m.accuracy(), m.mean_loss(),
              m.error_rate(), m.top_k(), m.top_k_accuracy());
  if (r.forward_seconds > 0)
    std::printf("inference %.0f images/s (forward passes only, %s)\n", m.count() / r.forward_seconds,
                precision_name(precision));
  std::printf("\n");
  auto p = m.precision(), rc = m.recall(), f = m.f1();
  std::printf("%-20s %9s %9s %9s\n", "class", "precision", "recall", "f1");
  for (size_t c = 0; c < names.size(); ++c)
    std::printf("%-20s %9.4f %9.4f %9.4f\n", printable(names[c]).c_str(), p[c], rc[c], f[c]);
  std::printf("\nconfusion matrix (rows: true, columns: predicted)\n");
  for (auto& row : m.confusion()) {
    for (auto v : row) std::printf(" %6lld", static_cast<long long>(v));
    std::printf("\n");
  }
  return 0;
}

int run(const std::vector<std::string>& args) { return run_command("eval", kUsage, args, body); }
Registrar reg({"eval", "evaluate a model file on a dataset", run});

}  // namespace
}  // namespace perceptra::cli
