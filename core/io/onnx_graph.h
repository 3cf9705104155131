#pragma once
// Internal: building ONNX graphs, shared by the float export
// (onnx_export.cpp) and the int8 QDQ export (core/quant/onnx_qdq_export.cpp).
// Needs ONNX_NAMESPACE=onnx and ONNX_ML=1 (libonnx-dev's build flags).
#include <onnx/onnx_pb.h>

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/io/onnx_export.h"

namespace perceptra {

class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto* g) : g_(g) {}

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int i = 1; used_.count(name); ++i) name = base + "_" + std::to_string(i);
    used_.insert(name);
    return name;
  }

  std::string constant(const std::string& base, const std::vector<int64_t>& dims, const std::vector<float>& values) {
    std::string name = fresh(base);
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    // raw_data is little-endian float32, the same bytes as the engine's.
    t->set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
    return name;
  }
  // Any element type from its little-endian bytes (int8 weights, zero points).
  std::string constant_raw(const std::string& base, const std::vector<int64_t>& dims, int data_type,
                           const std::string& raw) {
    std::string name = fresh(base);
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(data_type);
    for (auto d : dims) t->add_dims(d);
    t->set_raw_data(raw);
    return name;
  }
  std::string constant_i64(const std::string& base, const std::vector<int64_t>& values) {
    std::string name = fresh(base);
    auto* t = g_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(int64_t(values.size()));
    for (auto v : values) t->add_int64_data(v);
    return name;
  }
  std::string constant(const std::string& base, const Tensor& value) {
    return constant(base, value.shape().dims(), value.to_vector());
  }

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& name) {
    auto* n = g_->add_node();
    n->set_op_type(op);
    n->set_name(fresh("node:" + name));
    for (const auto& i : inputs) n->add_input(i);
    last_output_ = fresh(name);
    n->add_output(last_output_);
    last_node_ = n;
    return n;
  }
  const std::string& out() const { return last_output_; }
  onnx::NodeProto* last_node() const { return last_node_; }

  static void attr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  static void attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (auto x : v) a->add_ints(x);
  }

 private:
  onnx::GraphProto* g_;
  std::set<std::string> used_;
  std::string last_output_;
  onnx::NodeProto* last_node_ = nullptr;
};

// The ONNX nodes of one layer (any type export_onnx maps) applied to x;
// returns the output name. `where` names the layer in errors.
std::string emit_onnx_layer(GraphBuilder& b, Layer& layer, const std::string& x, const std::string& path,
                            const std::string& where);

// export_onnx_bytes with the layers replaced by `body` (input after the
// normalisation -> output before the optional Softmax); the same checks,
// metadata (plus extra_meta) and graph input/output.
using OnnxBody = std::function<std::string(GraphBuilder&, std::string)>;
std::string export_onnx_bytes_with(Model& model, const ModelMeta& meta, const OnnxExportOptions& options,
                                   const OnnxBody& body,
                                   const std::vector<std::pair<std::string, std::string>>& extra_meta = {});

}  // namespace perceptra
