#include "core/io/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <cmath>

#include "core/io/atomic_file.h"
#include "core/io/onnx_graph.h"
#include "core/tensor/bounded_json.h"
#include "core/nn/activation.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/dropout.h"
#include "core/nn/flatten.h"
#include "core/nn/global_avgpool.h"
#include "core/nn/linear.h"
#include "core/nn/pool2d.h"
#include "core/nn/residual.h"
#include "core/tensor/error.h"

namespace perceptra {
namespace {

std::string emit_layer(GraphBuilder& b, Layer& layer, const std::string& x, const std::string& path,
                       const std::string& where);

std::string emit_batchnorm(GraphBuilder& b, BatchNorm& bn, const std::string& x, const std::string& path) {
  auto ps = bn.parameters();
  std::string scale, bias, mean, var;
  if (ps.size() == 4) {
    scale = b.constant(ps[0]->name, ps[0]->value);
    bias = b.constant(ps[1]->name, ps[1]->value);
    mean = b.constant(ps[2]->name, ps[2]->value);
    var = b.constant(ps[3]->name, ps[3]->value);
  } else {  // not affine: gamma 1, beta 0
    int64_t c = bn.channels();
    scale = b.constant(path + ".weight", {c}, std::vector<float>(size_t(c), 1.f));
    bias = b.constant(path + ".bias", {c}, std::vector<float>(size_t(c), 0.f));
    mean = b.constant(ps[0]->name, ps[0]->value);
    var = b.constant(ps[1]->name, ps[1]->value);
  }
  auto* n = b.node("BatchNormalization", {x, scale, bias, mean, var}, path);
  GraphBuilder::attr(n, "epsilon", bn.eps());
  return b.out();
}

std::string emit_conv(GraphBuilder& b, Conv2d& conv, const std::string& x, const std::string& path) {
  const auto& o = conv.options();
  auto ps = conv.parameters();
  std::vector<std::string> in = {x, b.constant(ps[0]->name, ps[0]->value)};
  if (o.bias) in.push_back(b.constant(ps[1]->name, ps[1]->value));
  auto* n = b.node("Conv", in, path);
  GraphBuilder::attr(n, "kernel_shape", std::vector<int64_t>{o.kh, o.kw});
  GraphBuilder::attr(n, "strides", std::vector<int64_t>{o.sh, o.sw});
  GraphBuilder::attr(n, "pads", std::vector<int64_t>{o.ph, o.pw, o.ph, o.pw});
  GraphBuilder::attr(n, "dilations", std::vector<int64_t>{o.dh, o.dw});
  GraphBuilder::attr(n, "group", int64_t(o.groups));
  return b.out();
}

std::string emit_linear(GraphBuilder& b, Linear& lin, const std::string& x, const std::string& path) {
  auto ps = lin.parameters();
  std::vector<std::string> in = {x, b.constant(ps[0]->name, ps[0]->value)};
  if (ps.size() > 1) in.push_back(b.constant(ps[1]->name, ps[1]->value));
  auto* n = b.node("Gemm", in, path);
  GraphBuilder::attr(n, "transB", int64_t(1));
  return b.out();
}

std::string emit_pool(GraphBuilder& b, const std::string& op, const PoolOptions& o, const std::string& x,
                      const std::string& path) {
  std::string in = x;
  bool explicit_pad = op == "AveragePool" && (o.ph > 0 || o.pw > 0);
  if (explicit_pad) {
    // The engine averages over the full window, zero padding included
    // (PyTorch's count_include_pad=True). ONNX says that with
    // count_include_pad=1, but OpenCV 4.6 ignores the attribute; an explicit
    // zero Pad followed by an unpadded AveragePool means the same everywhere.
    std::string pads = b.constant_i64(path + ".pads", {0, 0, o.ph, o.pw, 0, 0, o.ph, o.pw});
    b.node("Pad", {x, pads}, path + ".pad");
    in = b.out();
  }
  auto* n = b.node(op, {in}, path);
  GraphBuilder::attr(n, "kernel_shape", std::vector<int64_t>{o.kh, o.kw});
  GraphBuilder::attr(n, "strides", std::vector<int64_t>{o.sh, o.sw});
  if (!explicit_pad) GraphBuilder::attr(n, "pads", std::vector<int64_t>{o.ph, o.pw, o.ph, o.pw});
  return b.out();
}

std::string emit_activation(GraphBuilder& b, ActivationLayer& a, const std::string& x, const std::string& path) {
  switch (a.kind()) {
    case Activation::ReLU:
      b.node("Relu", {x}, path);
      return b.out();
    case Activation::LeakyReLU: {
      auto* n = b.node("LeakyRelu", {x}, path);
      GraphBuilder::attr(n, "alpha", a.slope());
      return b.out();
    }
    case Activation::Sigmoid:
      b.node("Sigmoid", {x}, path);
      return b.out();
    case Activation::Tanh:
      b.node("Tanh", {x}, path);
      return b.out();
    case Activation::ReLU6: {
      // 6 * HardSigmoid(x; alpha 1/6, beta 0) = min(max(x, 0), 6). Not Clip:
      // from opset 11 Clip takes its bounds as inputs, and OpenCV 4.6 reads
      // only the older attribute form.
      auto* n = b.node("HardSigmoid", {x}, path + ".hardsigmoid");
      GraphBuilder::attr(n, "alpha", 1.f / 6.f);
      GraphBuilder::attr(n, "beta", 0.f);
      std::string six = b.constant(path + ".six", {}, {6.f});
      b.node("Mul", {b.out(), six}, path);
      return b.out();
    }
    case Activation::GELU: {
      // Exact GELU as the engine computes it: x * 0.5 * (1 + erf(x / sqrt 2)).
      std::string sqrt2 = b.constant(path + ".sqrt2", {}, {float(std::sqrt(2.0))});
      std::string one = b.constant(path + ".one", {}, {1.f});
      std::string half = b.constant(path + ".half", {}, {0.5f});
      b.node("Div", {x, sqrt2}, path + ".scaled");
      b.node("Erf", {b.out()}, path + ".erf");
      b.node("Add", {b.out(), one}, path + ".erf_plus_1");
      b.node("Mul", {x, b.out()}, path + ".x_times");
      b.node("Mul", {b.out(), half}, path);
      return b.out();
    }
  }
  return x;
}

std::string emit_residual(GraphBuilder& b, Residual& r, const std::string& x, const std::string& path,
                          const std::string& where) {
  auto children = r.children();
  size_t branch_n = children.size() - (r.has_projection() ? 2 : 0);
  std::string y = x;
  for (size_t i = 0; i < branch_n; ++i)
    y = emit_layer(b, *children[i], y, children[i]->name(),
                   where + " > layer " + std::to_string(i) + " (" + children[i]->type() + ")");
  std::string shortcut = x;
  if (r.has_projection()) {
    Layer* proj = children[branch_n];
    Layer* bn = children[branch_n + 1];
    shortcut = emit_layer(b, *proj, x, proj->name(), where + " > shortcut");
    shortcut = emit_layer(b, *bn, shortcut, bn->name(), where + " > shortcut");
  }
  b.node("Add", {y, shortcut}, path + ".add");
  if (r.args().value("activation", "none") == "relu") b.node("Relu", {b.out()}, path + ".relu");
  return b.out();
}

std::string emit_layer(GraphBuilder& b, Layer& layer, const std::string& x, const std::string& path,
                       const std::string& where) {
  if (auto* l = dynamic_cast<Linear*>(&layer)) return emit_linear(b, *l, x, path);
  if (auto* l = dynamic_cast<Conv2d*>(&layer)) return emit_conv(b, *l, x, path);
  if (auto* l = dynamic_cast<MaxPool2d*>(&layer)) return emit_pool(b, "MaxPool", l->options(), x, path);
  if (auto* l = dynamic_cast<AvgPool2d*>(&layer)) return emit_pool(b, "AveragePool", l->options(), x, path);
  if (dynamic_cast<GlobalAvgPool*>(&layer)) {
    b.node("GlobalAveragePool", {x}, path + ".pool");
    auto* n = b.node("Flatten", {b.out()}, path);  // the engine's output is [N, C]
    GraphBuilder::attr(n, "axis", int64_t(1));
    return b.out();
  }
  if (auto* l = dynamic_cast<ActivationLayer*>(&layer)) return emit_activation(b, *l, x, path);
  if (auto* l = dynamic_cast<BatchNorm*>(&layer)) return emit_batchnorm(b, *l, x, path);
  if (dynamic_cast<Dropout*>(&layer)) return x;  // identity at inference
  if (dynamic_cast<Flatten*>(&layer)) {
    auto* n = b.node("Flatten", {x}, path);
    GraphBuilder::attr(n, "axis", int64_t(1));
    return b.out();
  }
  if (auto* l = dynamic_cast<Residual*>(&layer)) return emit_residual(b, *l, x, path, where);
  throw InputError(where, "cannot be exported to ONNX: no mapping for layer type '" + layer.type() + "'");
}

void set_tensor_type(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& sample_dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (auto d : sample_dims) shape->add_dim()->set_dim_value(d);
}

void add_meta(onnx::ModelProto& m, const std::string& key, const std::string& value) {
  auto* p = m.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

}  // namespace

std::string emit_onnx_layer(GraphBuilder& b, Layer& layer, const std::string& x, const std::string& path,
                            const std::string& where) {
  return emit_layer(b, layer, x, path, where);
}

std::string export_onnx_bytes(Model& model, const ModelMeta& meta, const OnnxExportOptions& options) {
  auto layers = model.layers();
  return export_onnx_bytes_with(model, meta, options, [&](GraphBuilder& b, std::string x) {
    for (size_t i = 0; i < layers.size(); ++i)
      x = emit_layer(b, *layers[i], x, layers[i]->name(),
                     "layer " + std::to_string(i) + " (" + layers[i]->type() + ")");
    return x;
  });
}

std::string export_onnx_bytes_with(Model& model, const ModelMeta& meta, const OnnxExportOptions& options,
                                   const OnnxBody& body,
                                   const std::vector<std::pair<std::string, std::string>>& extra_meta) {
  detail::check_meta(model, meta, "onnx export");
  if (options.opset < 13 || options.opset > 17)
    throw InputError("onnx export", "opset " + std::to_string(options.opset) + " is not supported (use 13 to 17)");
  onnx::ModelProto m;
  m.set_ir_version(options.opset <= 13 ? 7 : 8);
  m.set_producer_name("Perceptra");
  m.set_producer_version(detail::perceptra_version());
  m.set_model_version(1);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(options.opset);

  const nlohmann::json spec = model.spec();
  auto* g = m.mutable_graph();
  g->set_name(!options.graph_name.empty() ? options.graph_name : spec.value("name", std::string("perceptra_model")));
  GraphBuilder b(g);
  const std::string input = b.fresh("input");
  set_tensor_type(g->add_input(), input, model.input_shape().dims());

  std::string x = input;
  const bool normalize = options.include_normalization && !meta.mean.empty();
  if (normalize) {
    // Broadcast per channel: [1, C, 1, 1] for images, [1, C] otherwise.
    std::vector<int64_t> dims = {1, int64_t(meta.mean.size())};
    for (int i = 1; i < model.input_shape().rank(); ++i) dims.push_back(1);
    std::string mean = b.constant("normalize.mean", dims, meta.mean);
    std::string stdv = b.constant("normalize.std", dims, meta.std);
    b.node("Sub", {x, mean}, "normalize.centered");
    b.node("Div", {b.out(), stdv}, "normalize");
    x = b.out();
  }
  x = body(b, x);

  std::string output = options.softmax ? "probabilities" : "logits";
  if (options.softmax) {
    auto* n = b.node("Softmax", {x}, "softmax");
    GraphBuilder::attr(n, "axis", int64_t(1));
    x = b.out();
  }
  if (x == input || b.last_node() == nullptr) {
    b.node("Identity", {x}, output);
  }
  // The last node produces the graph output under its public name.
  b.last_node()->set_output(0, output);
  set_tensor_type(g->add_output(), output, {int64_t(model.num_classes())});

  g->set_doc_string("Perceptra model '" + g->name() + "'. Input: float32 NCHW " + model.input_shape().str() +
                    " per sample, pixel values in [0,1]" +
                    (normalize ? "; normalisation (x - mean) / std is part of this graph." : "; no normalisation."));
  add_meta(m, "perceptra.input",
           normalize ? "raw pixels in [0,1], NCHW float32; the graph applies (x - mean) / std "
                       "per channel (Sub/Div nodes 'normalize*')"
                     : "NCHW float32, fed to the first layer as is (no normalisation in graph)");
  add_meta(m, "perceptra.normalization",
           nlohmann::json{{"included_in_graph", normalize}, {"mean", meta.mean}, {"std", meta.std}}.dump());
  add_meta(m, "perceptra.class_names", dump_json_safe(nlohmann::json(meta.class_names)));
  add_meta(m, "perceptra.output", options.softmax ? "class probabilities (Softmax)" : "logits");
  add_meta(m, "perceptra.spec", dump_json_safe(spec));
  if (!meta.training.empty()) add_meta(m, "perceptra.training", dump_json_safe(meta.training));
  for (const auto& [k, v] : extra_meta) add_meta(m, k, v);

  try {
    onnx::checker::check_model(m);
    // Strict shape inference catches dimension mistakes the checker does not.
    onnx::ModelProto copy = m;
    onnx::shape_inference::InferShapes(copy, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, false));
  } catch (const std::exception& e) {
    throw Error(std::string("onnx export: the generated graph fails onnx::checker: ") + e.what());
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw Error("onnx export: protobuf serialisation failed");
  return bytes;
}

void export_onnx(const std::string& path, Model& model, const ModelMeta& meta, const OnnxExportOptions& options) {
  std::string bytes = export_onnx_bytes(model, meta, options);
  write_file_atomically(path, [&](AtomicFile& f) { f.write(bytes); });
}

}  // namespace perceptra
