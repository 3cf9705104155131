// perceptra-cli import: ONNX graphs, PyTorch state dicts and .safetensors as
// a native model file.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "core/io/import/importer.h"
#include "core/tensor/error.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli import FILE --out MODEL.pmodel [--arch NAME] [--input C,H,W]\n"
    "                            [--mean R,G,B --std R,G,B] [--classes N|FILE]\n\n"
    "Reads a network trained elsewhere and writes it as a native model file:\n"
    "  .onnx          the graph's layers (Conv, BatchNormalization, Relu, Clip, MaxPool,\n"
    "                 AveragePool, GlobalAveragePool, Add, Flatten/Reshape, Gemm/MatMul,\n"
    "                 Dropout, Identity), residual blocks included\n"
    "  .pth, .pt      a PyTorch state dict (torch.save; read without Python)\n"
    "  .safetensors   named tensors\n"
    "State dicts hold weights only: --arch names the torchvision architecture they\n"
    "follow (resnet18, resnet34, mobilenet_v2). --input sets the image size the model\n"
    "takes (default: the ONNX graph's, or 3,224,224); convolutional networks with\n"
    "global pooling work at other sizes too. --mean/--std set the input normalisation\n"
    "(default: the graph's own, else torchvision's ImageNet values). --classes gives\n"
    "the class count (checked against the file) or a file of class names, one a line.\n"
    "Nothing is written when anything cannot be mapped; the error names the node or\n"
    "tensor.\n\n"
    "exit status: 0 ok, 1 unreadable or unsupported file, 2 usage error\n";

std::vector<double> numbers(const std::string& option, const std::string& text, size_t count) {
  std::vector<double> v;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      v.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw UsageError("--" + option + " must be " + std::to_string(count) + " comma-separated numbers, got '" + text +
                       "'");
    }
  }
  if (v.size() != count)
    throw UsageError("--" + option + " must be " + std::to_string(count) + " comma-separated numbers, got '" + text +
                     "'");
  return v;
}

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"out"}, {"arch"}, {"input"}, {"mean"}, {"std"}, {"classes"}});
  if (a.positional().size() != 1) throw UsageError("give exactly one FILE to import");
  auto out = a.get("out");
  if (!out) throw UsageError("--out MODEL.pmodel is required");
  ImportOptions o;
  o.arch = a.get_or("arch", "");
  if (auto v = a.get("input")) {
    for (double d : numbers("input", *v, 3)) {
      if (d < 1 || d > 8192 || d != static_cast<int64_t>(d))
        throw UsageError("--input must be three positive integers C,H,W");
      o.input.push_back(static_cast<int64_t>(d));
    }
  }
  if (a.has("mean") != a.has("std")) throw UsageError("--mean and --std go together");
  if (auto v = a.get("mean")) {
    const size_t c = o.input.empty() ? 3 : size_t(o.input[0]);
    for (double d : numbers("mean", *v, c)) o.mean.push_back(static_cast<float>(d));
    for (double d : numbers("std", *a.get("std"), c)) {
      if (!(d > 0)) throw UsageError("--std values must be positive");
      o.std.push_back(static_cast<float>(d));
    }
  }
  if (auto v = a.get("classes")) {
    bool is_number = !v->empty() && v->find_first_not_of("0123456789") == std::string::npos;
    if (is_number) {
      o.classes = std::stoi(*v);
      if (o.classes < 1) throw UsageError("--classes must be positive");
    } else {
      std::ifstream in(*v);
      if (!in) throw InputError(*v, "class names file cannot be read");
      std::string line;
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty()) o.class_names.push_back(line);
      }
      if (o.class_names.empty()) throw InputError(*v, "class names file is empty");
    }
  }
  ImportedModel m = import_model(a.positional()[0], o);
  save_model(*out, *m.model, m.meta);
  for (const auto& n : m.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  std::fprintf(stderr, "imported %s (%s): %zu layers, %lld parameters, input %s, %d classes -> %s\n",
               a.positional()[0].c_str(), m.format.c_str(), m.model->layers().size(),
               static_cast<long long>(m.model->parameter_count()), m.model->input_shape().str().c_str(),
               m.model->num_classes(), out->c_str());
  return 0;
}

int run(const std::vector<std::string>& args) { return run_command("import", kUsage, args, body); }
Registrar reg({"import", "import an ONNX, PyTorch (.pth) or .safetensors model", run});

}  // namespace
}  // namespace perceptra::cli
