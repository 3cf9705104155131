#include "core/io/import/importer.h"

#include <algorithm>

#include "core/io/import/imported_graph.h"
#include "core/io/import/source_bytes.h"
#include "core/io/import/state_dict.h"
#include "core/nn/builtin_torchvision.h"
#include "core/nn/layer_util.h"
#include "core/tensor/random.h"

namespace perceptra {

using import::ImportedWeight;
using import::shape_str;

const std::vector<float>& imagenet_mean() {
  static const std::vector<float> v = {0.485f, 0.456f, 0.406f};
  return v;
}
const std::vector<float>& imagenet_std() {
  static const std::vector<float> v = {0.229f, 0.224f, 0.225f};
  return v;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return s;
}
std::string suffix_after_dot(const std::string& name) {
  auto d = name.rfind('.');
  return d == std::string::npos ? name : name.substr(d + 1);
}

// Copies weights into the model's parameters in order, checking shapes.
void load_weights(Model& model, std::vector<ImportedWeight>& weights, const std::string& path, bool check_names) {
  auto params = model.parameters();
  for (size_t k = 0; k < std::min(params.size(), weights.size()); ++k) {
    Parameter& p = *params[k];
    ImportedWeight& w = weights[k];
    const std::string ours = suffix_after_dot(p.name);
    if (check_names) {
      const std::string theirs = suffix_after_dot(w.source);
      if (theirs != ours)
        throw InputError(path + ": tensor '" + w.source + "'",
                         "comes where the architecture has '" + p.name + "' (a " + ours +
                             "); the file does not follow this architecture's parameter order");
    }
    if (Shape(w.shape) != p.value.shape())
      throw InputError(path + ": tensor '" + w.source + "'",
                       "has shape " + shape_str(w.shape) + " but '" + p.name + "' needs " + p.value.shape().str());
    p.value.copy_from(Tensor::from_vector(p.value.shape(), w.values));
  }
  if (params.size() != weights.size()) {
    const std::string detail = weights.size() > params.size()
                                   ? "; the first extra is '" + weights[params.size()].source + "'"
                                   : "; the first missing is '" + params[weights.size()]->name + "'";
    throw InputError(path, "holds " + std::to_string(weights.size()) + " weight tensors but the model has " +
                               std::to_string(params.size()) + detail);
  }
}

std::string format_of(const std::string& path) {
  const std::string l = lower(path);
  if (ends_with(l, ".onnx")) return "onnx";
  if (ends_with(l, ".safetensors")) return "safetensors";
  if (ends_with(l, ".pth") || ends_with(l, ".pt") || ends_with(l, ".bin") || ends_with(l, ".ckpt"))
    return "pytorch state dict";
  // Sniff: zip (torch.save), JSON header after 8 bytes (safetensors), else ONNX.
  std::string head = import::read_file_bytes(path).substr(0, 9);
  if (head.rfind("PK\x03\x04", 0) == 0) return "pytorch state dict";
  if (head.size() == 9 && head[8] == '{') return "safetensors";
  return "onnx";
}

}  // namespace

ImportedModel import_model(const std::string& path, const ImportOptions& o) {
  ImportedModel out;
  out.format = format_of(path);
  nlohmann::json spec;
  std::vector<ImportedWeight> weights;
  bool check_names = false;
  if (out.format == "onnx") {
    if (!o.arch.empty()) out.notes.push_back("--arch is ignored for ONNX files (the graph defines the layers)");
    import::ImportedGraph g = import::read_onnx_graph(path, o.input);
    spec = std::move(g.spec);
    weights = std::move(g.weights);
    out.meta.mean = g.mean;
    out.meta.std = g.std;
    if (!g.mean.empty()) out.notes.push_back("normalisation read from the graph's Sub/Div nodes");
  } else {
    const auto& names = torchvision_builtin_names();
    if (o.arch.empty())
      throw InputError(path,
                       "is a state dict (weights only): say which architecture it is for "
                       "with --arch (resnet18, resnet34, mobilenet_v2)");
    if (std::find(names.begin(), names.end(), o.arch) == names.end())
      throw InputError(path, "--arch '" + o.arch + "' is not one of resnet18, resnet34, mobilenet_v2");
    import::StateDict sd =
        out.format == "safetensors" ? import::read_safetensors(path) : import::read_torch_state_dict(path);
    for (auto& t : sd) {
      if (!t.floating) continue;  // BatchNorm's num_batches_tracked
      std::string name = t.name;
      if (name.rfind("module.", 0) == 0) name = name.substr(7);  // DataParallel
      weights.push_back({name, std::move(t.shape), std::move(t.values)});
    }
    // The classifier is the last matrix (fc.weight / classifier.1.weight).
    int64_t classes = 0;
    for (auto it = weights.rbegin(); it != weights.rend() && !classes; ++it)
      if (it->shape.size() == 2) classes = it->shape[0];
    if (!classes) throw InputError(path, "holds no classifier weight [classes, features]");
    std::vector<int64_t> input = o.input.empty() ? std::vector<int64_t>{3, 224, 224} : o.input;
    if (input[0] != 3)
      throw InputError(path, "torchvision's " + o.arch + " takes 3 input channels, not " + std::to_string(input[0]));
    spec = Model::builtin_spec(o.arch, Shape(input), int(classes));
    check_names = true;
  }
  // The class count: the file's, which --classes must agree with.
  const int file_classes = spec["classes"].get<int>();
  const int want = o.classes ? o.classes : int(o.class_names.size());
  if (want && want != file_classes)
    throw InputError(path,
                     "has " + std::to_string(file_classes) + " classes but " + std::to_string(want) + " were given");
  Rng rng(0);
  {
    // An ONNX spec comes from the file: it may allocate no more parameter
    // values than the file holds (as for model files), so a small file is
    // refused before the model's tensors are allocated. A state dict's spec
    // is the builtin the user named (bounded); load_weights says precisely
    // how the file differs from it.
    int64_t held = 0;
    for (const auto& w : weights) held += int64_t(w.values.size());
    ParameterBudget budget(out.format == "onnx" ? held : -1);
    try {
      out.model = Model::from_spec(spec, rng);
    } catch (const InputError& e) {
      throw InputError(path, e.what());
    }
  }
  load_weights(*out.model, weights, path, check_names);
  out.meta.class_names = o.class_names;
  if (!o.mean.empty()) {
    out.meta.mean = o.mean;
    out.meta.std = o.std;
  } else if (out.meta.mean.empty() && out.model->input_shape()[0] == 3) {
    out.meta.mean = imagenet_mean();
    out.meta.std = imagenet_std();
    out.notes.push_back("normalisation: torchvision's ImageNet mean/std (override with --mean/--std)");
  }
  out.meta.extra["imported_from"] = {{"file", path}, {"format", out.format}};
  if (!o.arch.empty() && out.format != "onnx") out.meta.extra["imported_from"]["arch"] = o.arch;
  return out;
}

}  // namespace perceptra
