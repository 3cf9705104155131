// perceptra-cli export: a model file as a native model file or ONNX.
#include <cstdio>
#include <string>

#include "app/cli/args.h"
#include "app/cli/command.h"
#include "core/io/model_file.h"
#include "core/io/onnx_export.h"
#include "core/quant/onnx_qdq_export.h"
#include "core/quant/quantized_file.h"

namespace perceptra::cli {
namespace {

const char* kUsage =
    "usage: perceptra-cli export --model FILE [--format native|onnx] --out FILE\n"
    "                            [--opset N] [--softmax] [--no-normalization]\n\n"
    "--format may be left out when --out ends in .onnx (onnx) or .pmodel (native).\n"
    "native: writes a model file (also turns a checkpoint into a model file).\n"
    "onnx:   writes an ONNX graph (opset 13 by default), checked with onnx::checker.\n"
    "        Input 'input' [N,C,H,W] takes raw pixels in [0,1]: the training\n"
    "        normalisation is part of the graph (Sub/Div) unless --no-normalization;\n"
    "        output 'logits' [N,classes], or 'probabilities' with --softmax.\n"
    "        An int8 model (perceptra-cli quantize) becomes a QDQ graph:\n"
    "        QuantizeLinear/DequantizeLinear around int8 weights (per-axis scales)\n"
    "        and activations, for ONNX Runtime (OpenCV 4.6 DNN cannot read it).\n\n"
    "exit status: 0 ok, 1 bad model or write failure, 2 usage error\n";

int body(const std::vector<std::string>& argv) {
  Args a(argv, {{"model"}, {"format"}, {"out"}, {"opset"}, {"softmax", false}, {"no-normalization", false}});
  if (!a.positional().empty()) throw UsageError("unexpected argument '" + a.positional()[0] + "'");
  auto model_path = a.get("model"), format = a.get("format"), out = a.get("out");
  if (!model_path) throw UsageError("--model FILE is required");
  if (!out) throw UsageError("--out FILE is required");
  if (!format) {
    auto ends_with = [&](const std::string& ext) {
      return out->size() > ext.size() && out->compare(out->size() - ext.size(), ext.size(), ext) == 0;
    };
    if (ends_with(".onnx"))
      format = "onnx";
    else if (ends_with(".pmodel"))
      format = "native";
    else
      throw UsageError("--format native|onnx is required (--out does not end in .onnx or .pmodel)");
  }
  if (*format != "native" && *format != "onnx")
    throw UsageError("--format must be native or onnx, got '" + *format + "'");
  OnnxExportOptions o;
  if (auto v = a.get_int("opset")) o.opset = static_cast<int>(*v);
  o.softmax = a.flag("softmax");
  o.include_normalization = !a.flag("no-normalization");
  LoadedModel lm = quant::load_any_model(*model_path);  // float or int8
  auto* qm = dynamic_cast<quant::QuantizedModel*>(lm.model->inference_override());
  if (qm && *format == "native")
    quant::save_quantized_model(*out, *qm, lm.meta, quant::quantization_report(*model_path));
  else if (qm)
    quant::export_qdq_onnx(*out, *qm, lm.meta, o);
  else if (*format == "native")
    save_model(*out, *lm.model, lm.meta);
  else
    export_onnx(*out, *lm.model, lm.meta, o);
  std::fprintf(stderr, "wrote %s (%s)\n", out->c_str(), format->c_str());
  return 0;
}

int run(const std::vector<std::string>& args) { return run_command("export", kUsage, args, body); }
Registrar reg({"export", "export a model file (native or ONNX)", run});

}  // namespace
}  // namespace perceptra::cli
