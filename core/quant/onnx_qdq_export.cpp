#include "core/quant/onnx_qdq_export.h"

#include "core/io/atomic_file.h"
#include "core/io/onnx_graph.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/linear.h"
#include "core/tensor/error.h"

namespace perceptra::quant {

namespace {

std::string qdq(GraphBuilder& b, const std::string& x, float scale, bool is_signed, const std::string& path) {
  const std::string s = b.constant(path + ".scale", {}, {scale});
  const std::string zp = b.constant_raw(
      path + ".zero_point", {}, is_signed ? onnx::TensorProto::INT8 : onnx::TensorProto::UINT8, std::string(1, '\0'));
  b.node("QuantizeLinear", {x, s, zp}, path + ".quantized");
  b.node("DequantizeLinear", {b.out(), s, zp}, path + ".dequantized");
  return b.out();
}

std::string emit_seq(GraphBuilder& b, std::vector<QuantNode>& seq, std::string x);

std::string emit_node(GraphBuilder& b, QuantNode& n, const std::string& x) {
  switch (n.kind) {
    case QuantNode::Kind::Layer:
      return emit_onnx_layer(b, *n.layer, x, n.name, "layer '" + n.name + "'");
    case QuantNode::Kind::Conv:
    case QuantNode::Kind::Linear: {
      if (!n.quantized) {
        std::string y = emit_onnx_layer(b, *n.layer, x, n.name, "layer '" + n.name + "'");
        if (n.bn) y = emit_onnx_layer(b, *n.bn, y, n.bn_name, "layer '" + n.bn_name + "'");
        if (n.relu) {
          b.node("Relu", {y}, n.name + ".relu");
          y = b.out();
        }
        return y;
      }
      const std::string in = qdq(b, x, n.in_scale, n.in_signed, n.name + ".input");
      const Shape ws = n.layer->parameters()[0]->value.shape();
      const int64_t K = ws[0];
      const std::string wq =
          b.constant_raw(n.name + ".weight_quantized", ws.dims(), onnx::TensorProto::INT8,
                         std::string(reinterpret_cast<const char*>(n.weights.values.data()), n.weights.values.size()));
      const std::string wscale = b.constant(n.name + ".weight_scale", {K}, n.weights.scales);
      const std::string wzp =
          b.constant_raw(n.name + ".weight_zero_point", {K}, onnx::TensorProto::INT8, std::string(size_t(K), '\0'));
      auto* dq = b.node("DequantizeLinear", {wq, wscale, wzp}, n.name + ".weight");
      GraphBuilder::attr(dq, "axis", int64_t(0));
      const std::string w = b.out();
      const std::string bias = b.constant(n.name + ".bias", {K}, n.bias);
      if (n.kind == QuantNode::Kind::Conv) {
        const auto& o = static_cast<Conv2d*>(n.layer)->options();
        auto* c = b.node("Conv", {in, w, bias}, n.name);
        GraphBuilder::attr(c, "kernel_shape", std::vector<int64_t>{o.kh, o.kw});
        GraphBuilder::attr(c, "strides", std::vector<int64_t>{o.sh, o.sw});
        GraphBuilder::attr(c, "pads", std::vector<int64_t>{o.ph, o.pw, o.ph, o.pw});
        GraphBuilder::attr(c, "dilations", std::vector<int64_t>{o.dh, o.dw});
        GraphBuilder::attr(c, "group", int64_t(1));
      } else {
        auto* g = b.node("Gemm", {in, w, bias}, n.name);
        GraphBuilder::attr(g, "transB", int64_t(1));
      }
      std::string y = b.out();
      if (n.relu) {
        b.node("Relu", {y}, n.name + ".relu");
        y = b.out();
      }
      if (n.out_scale > 0) y = qdq(b, y, n.out_scale, false, n.name + ".output");
      return y;
    }
    case QuantNode::Kind::Residual: {
      const std::string main = emit_seq(b, n.branch, x);
      const std::string sc = n.shortcut.empty() ? x : emit_seq(b, n.shortcut, x);
      b.node("Add", {main, sc}, n.name + ".add");
      std::string y = b.out();
      if (n.relu) {
        b.node("Relu", {y}, n.name + ".relu");
        y = b.out();
      }
      if (n.out_scale > 0) y = qdq(b, y, n.out_scale, false, n.name + ".output");
      return y;
    }
  }
  throw Error("qdq export: unknown node kind");
}

std::string emit_seq(GraphBuilder& b, std::vector<QuantNode>& seq, std::string x) {
  for (auto& n : seq) x = emit_node(b, n, x);
  return x;
}

}  // namespace

std::string export_qdq_onnx_bytes(QuantizedModel& qm, const ModelMeta& meta, const OnnxExportOptions& options) {
  if (options.opset < 13)
    throw InputError("onnx export",
                     "int8 QDQ export needs opset 13 or later (per-axis "
                     "DequantizeLinear), not " +
                         std::to_string(options.opset));
  return export_onnx_bytes_with(
      qm.model(), meta, options, [&](GraphBuilder& b, std::string x) { return emit_seq(b, qm.nodes(), x); },
      {{"perceptra.quantization",
        "int8 QDQ: " + qm.describe() +
            "; per-output-channel symmetric INT8 weights, per-tensor activations (zero point 0)"}});
}

void export_qdq_onnx(const std::string& path, QuantizedModel& qm, const ModelMeta& meta,
                     const OnnxExportOptions& options) {
  std::string bytes = export_qdq_onnx_bytes(qm, meta, options);
  write_file_atomically(path, [&](AtomicFile& f) { f.write(bytes); });
}

}  // namespace perceptra::quant
