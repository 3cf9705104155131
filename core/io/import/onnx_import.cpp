// ONNX graph -> layer spec. Each value the graph computes remembers the value
// it came from and the layer that made it; an Add joins two such lineages at
// their last common value, and the two paths from there become a residual
// block (the longer one its branch, an empty path an identity shortcut, a
// 1x1 conv (+ BatchNormalization) path a projection shortcut). Walking back
// from the graph output to the input gives the layer list.
#include <onnx/onnx_pb.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "core/io/import/imported_graph.h"
#include "core/io/import/source_bytes.h"
#include "core/io/import/state_dict.h"

namespace perceptra::import {

namespace {

using nlohmann::json;

constexpr float kIdentityBnEps = 1e-5f;

struct Const {
  std::vector<int64_t> dims;
  std::vector<float> f;    // float tensors
  std::vector<int64_t> i;  // int64 tensors
  bool is_int = false;
};

// One layer with its tensors in Perceptra's parameter order.
struct LayerRec {
  json spec;
  std::vector<ImportedWeight> weights;
};

struct ValueRec {
  std::string prev;        // the value this one was computed from ("" for the input)
  bool has_layer = false;  // false: an alias (Identity, Dropout, no-op Flatten)
  LayerRec layer;
  int rank = 4;  // rank of the engine's tensor for this value
};

class OnnxReader {
 public:
  OnnxReader(const std::string& path, const std::vector<int64_t>& input_override)
      : path_(path), input_override_(input_override) {}

  ImportedGraph read() {
    const std::string bytes = read_file_bytes(path_, uint64_t(2) << 30);
    onnx::ModelProto m;
    if (!m.ParseFromString(bytes))
      throw InputError(path_, "is not a valid ONNX model (protobuf parse failed; truncated?)");
    for (const auto& op : m.opset_import())
      if ((op.domain().empty() || op.domain() == "ai.onnx") && op.version() > 0) opset_ = int(op.version());
    const auto& g = m.graph();
    for (const auto& t : g.initializer()) consts_[t.name()] = to_const(t, "initializer '" + t.name() + "'");
    for (const auto& n : g.node())
      for (const auto& in : n.input()) {
        ++consumers_[in];
        consumers_of_[in].push_back(&n);
      }
    for (const auto& o : g.output()) ++consumers_[o.name()];
    find_input(g);
    for (const auto& n : g.node()) visit(n);
    if (g.output_size() != 1)
      throw InputError(path_,
                       "has " + std::to_string(g.output_size()) + " graph outputs; a classifier has one (logits)");
    return assemble(g.output(0).name(), m.graph().name());
  }

 private:
  [[noreturn]] void fail_node(const onnx::NodeProto& n, const std::string& problem) const {
    // A node without a name is named by its first output; one with neither
    // (refused for that very reason) by its operator alone.
    const std::string label = !n.name().empty() ? n.name() : n.output_size() > 0 ? n.output(0) : "(unnamed)";
    throw InputError(path_ + ": node '" + label + "' (" + n.op_type() + ")", problem);
  }

  Const to_const(const onnx::TensorProto& t, const std::string& what) const {
    Const c;
    uint64_t numel = 1;
    for (auto d : t.dims()) {
      if (d < 0 || !mul_ok(numel, uint64_t(d), numel) || numel > (uint64_t(1) << 32))
        throw InputError(path_ + ": " + what, "has impossible dims");
      c.dims.push_back(d);
    }
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      throw InputError(path_ + ": " + what, "keeps its data in an external file, which is not supported");
    if (t.data_type() == onnx::TensorProto::FLOAT) {
      if (t.has_raw_data()) {
        if (t.raw_data().size() != numel * 4)
          throw InputError(path_ + ": " + what, "holds " + std::to_string(t.raw_data().size()) + " bytes for " +
                                                    std::to_string(numel) + " floats");
        c.f.resize(size_t(numel));
        if (numel) std::memcpy(c.f.data(), t.raw_data().data(), size_t(numel) * 4);
      } else {
        if (uint64_t(t.float_data_size()) != numel)
          throw InputError(path_ + ": " + what,
                           "holds " + std::to_string(t.float_data_size()) + " values for " + std::to_string(numel));
        c.f.assign(t.float_data().begin(), t.float_data().end());
      }
    } else if (t.data_type() == onnx::TensorProto::INT64) {
      c.is_int = true;
      if (t.has_raw_data()) {
        if (t.raw_data().size() != numel * 8)
          throw InputError(path_ + ": " + what, "holds the wrong number of int64 bytes");
        c.i.resize(size_t(numel));
        if (numel) std::memcpy(c.i.data(), t.raw_data().data(), size_t(numel) * 8);
      } else {
        if (uint64_t(t.int64_data_size()) != numel)
          throw InputError(path_ + ": " + what, "holds the wrong number of int64 values");
        c.i.assign(t.int64_data().begin(), t.int64_data().end());
      }
      for (auto v : c.i) c.f.push_back(float(v));
    } else {
      c.is_int = true;  // other types: only their presence matters (unused)
    }
    return c;
  }

  void find_input(const onnx::GraphProto& g) {
    for (const auto& in : g.input()) {
      if (consts_.count(in.name())) continue;
      if (!input_.empty())
        throw InputError(path_, "has more than one graph input ('" + input_ + "', '" + in.name() + "')");
      input_ = in.name();
      const auto& shape = in.type().tensor_type().shape();
      if (in.type().tensor_type().elem_type() != onnx::TensorProto::FLOAT)
        throw InputError(path_, "graph input '" + in.name() + "' is not float32");
      if (shape.dim_size() != 4)
        throw InputError(path_, "graph input '" + in.name() + "' has rank " + std::to_string(shape.dim_size()) +
                                    "; an image classifier takes [N, C, H, W]");
      for (int d = 1; d < 4; ++d) input_shape_.push_back(shape.dim(d).has_dim_value() ? shape.dim(d).dim_value() : 0);
    }
    if (input_.empty()) throw InputError(path_, "has no graph input");
    if (!input_override_.empty()) {
      if (input_shape_[0] > 0 && input_override_[0] != input_shape_[0])
        throw InputError(path_, "takes " + std::to_string(input_shape_[0]) + " input channels, not " +
                                    std::to_string(input_override_[0]));
      input_shape_ = input_override_;
    }
    for (auto d : input_shape_)
      if (d > 65536)
        throw InputError(path_, "graph input '" + input_ + "' declares the size " + shape_str(input_shape_) +
                                    ", larger than any image");
    for (auto d : input_shape_)
      if (d <= 0)
        throw InputError(path_, "graph input '" + input_ + "' has a symbolic size " + shape_str(input_shape_) +
                                    "; give it with --input C,H,W");
    values_[input_] = ValueRec{};
  }

  const ValueRec& value(const onnx::NodeProto& n, int k) {
    if (k >= n.input_size()) fail_node(n, "has too few inputs");
    auto it = values_.find(n.input(k));
    if (it == values_.end()) {
      if (consts_.count(n.input(k))) fail_node(n, "takes a constant where the image data should flow");
      fail_node(n, "uses '" + n.input(k) + "' before it is computed (graph not sorted?)");
    }
    return it->second;
  }
  const Const* constant(const onnx::NodeProto& n, int k, bool required = true) {
    if (k >= n.input_size() || n.input(k).empty()) {
      if (required) fail_node(n, "misses its input " + std::to_string(k));
      return nullptr;
    }
    auto it = consts_.find(n.input(k));
    if (it == consts_.end()) fail_node(n, "input '" + n.input(k) + "' must be a constant (initializer)");
    return &it->second;
  }
  static const onnx::AttributeProto* attr(const onnx::NodeProto& n, const std::string& name) {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  static int64_t attr_i(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
    auto* a = attr(n, name);
    return a ? a->i() : dflt;
  }
  static float attr_f(const onnx::NodeProto& n, const std::string& name, float dflt) {
    auto* a = attr(n, name);
    return a ? a->f() : dflt;
  }
  std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> dflt) const {
    auto* a = attr(n, name);
    if (!a) return dflt;
    std::vector<int64_t> v(a->ints().begin(), a->ints().end());
    if (v.size() != dflt.size())
      fail_node(n, "attribute '" + name + "' has " + std::to_string(v.size()) + " values, expected " +
                       std::to_string(dflt.size()) + " (2-D images only)");
    return v;
  }
  // Symmetric 2-D padding from pads [top, left, bottom, right].
  std::pair<int64_t, int64_t> pads_2d(const onnx::NodeProto& n) const {
    auto ap = attr(n, "auto_pad");
    if (ap && ap->s() != "NOTSET" && ap->s() != "VALID")
      fail_node(n, "auto_pad '" + ap->s() + "' is not supported (export with explicit pads)");
    auto p = attr_ints(n, "pads", {0, 0, 0, 0});
    if (p[0] != p[2] || p[1] != p[3]) fail_node(n, "has asymmetric padding, which the engine's layers do not have");
    return {p[0], p[1]};
  }
  static json pair_or_int(int64_t a, int64_t b) {
    if (a == b) return a;
    return json::array({a, b});
  }

  void set(const onnx::NodeProto& n, const std::string& prev, LayerRec layer, int rank) {
    ValueRec v;
    v.prev = prev;
    v.has_layer = true;
    v.layer = std::move(layer);
    v.rank = rank;
    values_[n.output(0)] = std::move(v);
  }
  void alias(const onnx::NodeProto& n, const std::string& prev, int rank) {
    ValueRec v;
    v.prev = prev;
    v.rank = rank;
    values_[n.output(0)] = std::move(v);
  }
  // Every weight holds exactly its shape's values: a constant of another
  // element type (whose values are not read) or of the wrong length is
  // refused here, before the spec built from its dims allocates anything.
  ImportedWeight weight(const std::string& source, std::vector<int64_t> shape, std::vector<float> v) {
    uint64_t numel = 1;
    for (int64_t d : shape)
      if (d < 0 || !mul_ok(numel, uint64_t(d), numel))
        throw InputError(path_ + ": '" + source + "'", "has impossible dims");
    if (v.size() != numel)
      throw InputError(
          path_ + ": '" + source + "'",
          "holds " + std::to_string(v.size()) + " float values for its shape " + shape_str(shape) + " (not float32?)");
    return ImportedWeight{source, std::move(shape), std::move(v)};
  }

  void visit(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      fail_node(n, "is in the custom domain '" + n.domain() + "', which is not supported");
    if (n.output_size() < 1) fail_node(n, "has no output");
    if (op == "Constant") {
      auto* a = attr(n, "value");
      if (!a || !a->has_t()) fail_node(n, "only tensor-valued Constant nodes are supported");
      consts_[n.output(0)] = to_const(a->t(), "Constant '" + n.output(0) + "'");
      return;
    }
    // Outputs beyond the first (Dropout's mask, BatchNormalization's
    // training statistics) must be unused.
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty() && consumers_[n.output(k)])
        fail_node(n, "output '" + n.output(k) + "' is used, which only training graphs do");
    if (op == "Conv") return conv(n);
    if (op == "BatchNormalization") return batchnorm(n);
    if (op == "Relu") return relu(n);
    if (op == "Clip") return clip(n);
    if (op == "MaxPool" || op == "AveragePool") return pool(n);
    if (op == "GlobalAveragePool") {
      const ValueRec& x = value(n, 0);
      if (x.rank != 4) fail_node(n, "needs an image input");
      return set(n, n.input(0), {{{"type", "global_avgpool"}}, {}}, 2);
    }
    if (op == "Flatten" || op == "Reshape") return flatten(n);
    if (op == "Gemm") return gemm(n);
    if (op == "MatMul") return matmul(n);
    if (op == "Add") return add(n);
    if (op == "Dropout" || op == "Identity") {
      const ValueRec& x = value(n, 0);
      return alias(n, n.input(0), x.rank);
    }
    if (op == "Sub" || op == "Div") return normalisation(n);
    if (op == "HardSigmoid") return hardsigmoid(n);
    if (op == "Mul") return mul(n);
    fail_node(n, "operator '" + op +
                     "' is not supported (supported: Conv, BatchNormalization, Relu, Clip, MaxPool, "
                     "AveragePool, GlobalAveragePool, Add, Flatten, Reshape, Gemm, MatMul, Dropout, "
                     "Identity, Constant, and HardSigmoid * 6 as ReLU6)");
  }

  void conv(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    if (x.rank != 4) fail_node(n, "needs an image input");
    const Const* w = constant(n, 1);
    const Const* b = constant(n, 2, false);
    if (w->dims.size() != 4) fail_node(n, "weight must be 4-D [K, C/groups, kh, kw] (2-D convolution)");
    const int64_t K = w->dims[0];
    auto k = attr_ints(n, "kernel_shape", {w->dims[2], w->dims[3]});
    if (k[0] != w->dims[2] || k[1] != w->dims[3]) fail_node(n, "kernel_shape disagrees with its weight");
    auto s = attr_ints(n, "strides", {1, 1});
    auto d = attr_ints(n, "dilations", {1, 1});
    auto [ph, pw] = pads_2d(n);
    const int64_t groups = attr_i(n, "group", 1);
    LayerRec l;
    l.spec = {{"type", "conv2d"},
              {"out_channels", K},
              {"kernel", pair_or_int(k[0], k[1])},
              {"stride", pair_or_int(s[0], s[1])},
              {"padding", pair_or_int(ph, pw)},
              {"dilation", pair_or_int(d[0], d[1])},
              {"groups", groups},
              {"bias", b != nullptr}};
    l.weights.push_back(weight(n.input(1), w->dims, w->f));
    if (b) {
      if (b->f.size() != size_t(K))
        fail_node(n, "bias has " + std::to_string(b->f.size()) + " values for " + std::to_string(K) + " channels");
      l.weights.push_back(weight(n.input(2), {K}, b->f));
    }
    set(n, n.input(0), std::move(l), 4);
  }

  void batchnorm(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    if (attr_i(n, "training_mode", 0) != 0) fail_node(n, "is in training mode");
    const Const* c[4] = {constant(n, 1), constant(n, 2), constant(n, 3), constant(n, 4)};
    const size_t C = c[0]->f.size();
    for (auto* t : c)
      if (t->f.size() != C) fail_node(n, "scale, bias, mean and var differ in length");
    LayerRec l;
    l.spec = {{"type", x.rank == 4 ? "batchnorm2d" : "batchnorm1d"}, {"eps", attr_f(n, "epsilon", 1e-5f)}};
    const int64_t C64 = int64_t(C);
    for (int k = 0; k < 4; ++k) l.weights.push_back(weight(n.input(k + 1), {C64}, c[k]->f));
    set(n, n.input(0), std::move(l), x.rank);
  }

  void relu(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    // Add -> Relu: the residual block's own post-activation.
    if (x.has_layer && x.layer.spec["type"] == "residual" && x.layer.spec["activation"] == "none" &&
        consumers_[n.input(0)] == 1) {
      ValueRec v = x;
      v.layer.spec["activation"] = "relu";
      values_[n.output(0)] = std::move(v);
      return;
    }
    set(n, n.input(0), {{{"type", "relu"}}, {}}, x.rank);
  }

  void clip(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    float lo = -INFINITY, hi = INFINITY;
    if (opset_ < 11) {
      lo = attr_f(n, "min", lo);
      hi = attr_f(n, "max", hi);
    } else {
      if (const Const* c = constant(n, 1, false)) {
        if (c->f.size() != 1) fail_node(n, "min must be a scalar");
        lo = c->f[0];
      }
      if (const Const* c = constant(n, 2, false)) {
        if (c->f.size() != 1) fail_node(n, "max must be a scalar");
        hi = c->f[0];
      }
    }
    const char* type = lo == 0.f && hi == 6.f ? "relu6" : lo == 0.f && std::isinf(hi) ? "relu" : nullptr;
    if (!type)
      fail_node(n, "clips to [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "]; only [0, 6] (ReLU6) and [0, inf) (ReLU) have engine layers");
    set(n, n.input(0), {{{"type", type}}, {}}, x.rank);
  }

  // ReLU6 as 6 * HardSigmoid(x; 1/6, 0), the form Perceptra exports: the
  // HardSigmoid must feed exactly one Mul by the constant 6.
  void hardsigmoid(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    const float alpha = attr_f(n, "alpha", 0.2f), beta = attr_f(n, "beta", 0.5f);
    auto users = consumers_of_.find(n.output(0));
    const onnx::NodeProto* mul = users != consumers_of_.end() && users->second.size() == 1 ? users->second[0] : nullptr;
    bool times_six = false;
    if (mul && mul->op_type() == "Mul" && mul->input_size() == 2)
      for (int k = 0; k < 2; ++k) {
        auto c = consts_.find(mul->input(k));
        times_six |=
            mul->input(1 - k) == n.output(0) && c != consts_.end() && c->second.f.size() == 1 && c->second.f[0] == 6.f;
      }
    if (std::abs(alpha - 1.f / 6.f) > 1e-7f || beta != 0.f || !times_six)
      fail_node(n,
                "operator 'HardSigmoid' is supported only as ReLU6 (6 * HardSigmoid(x; "
                "alpha 1/6, beta 0))");
    set(n, n.input(0), {{{"type", "relu6"}}, {}}, x.rank);
    relu6_halves_.insert(n.output(0));
  }
  void mul(const onnx::NodeProto& n) {
    for (int k = 0; k < 2 && k < n.input_size(); ++k)
      if (relu6_halves_.count(n.input(k))) return alias(n, n.input(k), value(n, k).rank);
    fail_node(n,
              "operator 'Mul' is supported only as the second half of ReLU6 "
              "(6 * HardSigmoid)");
  }

  void pool(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    if (x.rank != 4) fail_node(n, "needs an image input");
    auto* ks = attr(n, "kernel_shape");
    if (!ks || ks->ints_size() != 2) fail_node(n, "needs a 2-D kernel_shape");
    const int64_t kh = ks->ints(0), kw = ks->ints(1);
    auto s = attr_ints(n, "strides", {1, 1});
    auto [ph, pw] = pads_2d(n);
    if (attr_i(n, "ceil_mode", 0) != 0) fail_node(n, "uses ceil_mode, the engine pools in floor mode");
    if (attr_ints(n, "dilations", {1, 1}) != std::vector<int64_t>{1, 1})
      fail_node(n, "uses dilation, which the engine's pooling does not have");
    const bool avg = n.op_type() == "AveragePool";
    if (avg && (ph || pw) && attr_i(n, "count_include_pad", 0) == 0)
      fail_node(n,
                "averages padded windows without counting the padding; the engine counts it "
                "(PyTorch's count_include_pad=True)");
    if (2 * ph > kh || 2 * pw > kw) fail_node(n, "pads more than half its kernel");
    set(n, n.input(0),
        {{{"type", avg ? "avgpool2d" : "maxpool2d"},
          {"kernel", pair_or_int(kh, kw)},
          {"stride", pair_or_int(s[0], s[1])},
          {"padding", pair_or_int(ph, pw)}},
         {}},
        4);
  }

  void flatten(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    if (n.op_type() == "Flatten") {
      if (attr_i(n, "axis", 1) != 1) fail_node(n, "flattens from an axis other than 1");
    } else {
      const Const* shape = constant(n, 1);
      const auto& t = shape->i;
      // [batch or 0 or -1, -1 or features]: keep the batch, flatten the rest.
      if (t.size() != 2 || !(t[1] == -1 || t[1] > 0))
        fail_node(n, "reshapes to " + shape_str(t) + "; only flattening to [batch, features] is supported");
    }
    if (x.rank == 2) return alias(n, n.input(0), 2);  // already [N, C] (global pooling)
    set(n, n.input(0), {{{"type", "flatten"}}, {}}, 2);
  }

  LayerRec linear(const onnx::NodeProto& n, const Const& w, bool transposed) {
    // Engine weight [out, in]; transposed = the constant is [in, out].
    if (w.dims.size() != 2) fail_node(n, "weight must be a matrix");
    const int64_t out = transposed ? w.dims[1] : w.dims[0], in = transposed ? w.dims[0] : w.dims[1];
    // to_const bounds dims to 2^32 elements; values are read below only when all are there.
    if (w.f.size() != uint64_t(out) * uint64_t(in))
      fail_node(n, "weight holds " + std::to_string(w.f.size()) + " float values for " + shape_str(w.dims) +
                       " (not float32?)");
    std::vector<float> v(w.f.size());
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i)
        v[size_t(o * in + i)] = transposed ? w.f[size_t(i * out + o)] : w.f[size_t(o * in + i)];
    LayerRec l;
    l.spec = {{"type", "linear"}, {"out_features", out}, {"bias", false}};
    l.weights.push_back(weight(n.input(1), {out, in}, std::move(v)));
    return l;
  }

  void gemm(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    if (x.rank != 2) fail_node(n, "needs a flat input [batch, features]");
    if (attr_i(n, "transA", 0) != 0) fail_node(n, "transposes its data input");
    if (attr_f(n, "alpha", 1.f) != 1.f || attr_f(n, "beta", 1.f) != 1.f)
      fail_node(n, "scales by alpha/beta other than 1");
    LayerRec l = linear(n, *constant(n, 1), attr_i(n, "transB", 0) == 0);
    if (const Const* c = constant(n, 2, false)) {
      const int64_t out = l.weights[0].shape[0];
      if (c->f.size() != size_t(out))
        fail_node(n, "bias C must hold one value per output (" + std::to_string(out) + ")");
      l.spec["bias"] = true;
      l.weights.push_back(weight(n.input(2), {out}, c->f));
    }
    set(n, n.input(0), std::move(l), 2);
  }

  void matmul(const onnx::NodeProto& n) {
    const ValueRec& x = value(n, 0);
    if (x.rank != 2) fail_node(n, "needs a flat input [batch, features]");
    set(n, n.input(0), linear(n, *constant(n, 1), true), 2);
  }

  void normalisation(const onnx::NodeProto& n) {
    // (x - mean) / std per channel, straight on the graph input (our own
    // exports start like this): kept as the model's normalisation.
    const ValueRec& x = value(n, 0);
    const Const* c = constant(n, 1);
    const bool sub = n.op_type() == "Sub";
    const bool at_input = sub ? n.input(0) == input_ : n.input(0) == centred_;
    if (!at_input || c->f.size() != size_t(input_shape_[0]) || (sub && !mean_.empty()) || (!sub && !std_.empty()))
      fail_node(n, "is only supported as per-channel normalisation right at the graph input");
    if (sub) {
      mean_ = c->f;
      centred_ = n.output(0);
    } else {
      for (float v : c->f)
        if (!(v > 0.f)) fail_node(n, "divides by a non-positive standard deviation");
      std_ = c->f;
    }
    alias(n, n.input(0), x.rank);
  }

  // Layers from `from` (exclusive) up to `to`, in graph order.
  std::vector<LayerRec> path(const std::string& from, const std::string& to) const {
    std::vector<LayerRec> out;
    for (std::string v = to; v != from; v = values_.at(v).prev)
      if (values_.at(v).has_layer) out.push_back(values_.at(v).layer);
    return {out.rbegin(), out.rend()};
  }

  static bool is_projection(const std::vector<LayerRec>& p) {
    if (p.empty() || p.size() > 2 || p[0].spec["type"] != "conv2d") return false;
    const json& c = p[0].spec;
    if (c["kernel"] != 1 || c["padding"] != 0 || c["dilation"] != 1 || c["groups"] != 1) return false;
    return p.size() == 1 || p[1].spec["type"] == "batchnorm2d";
  }

  void add(const onnx::NodeProto& n) {
    if (n.input_size() != 2) fail_node(n, "needs two inputs");
    // Linear bias: MatMul followed by Add of a constant.
    for (int k = 0; k < 2; ++k)
      if (consts_.count(n.input(k))) {
        const ValueRec& x = value(n, 1 - k);
        const Const& b = consts_.at(n.input(k));
        if (!x.has_layer || x.layer.spec["type"] != "linear" || x.layer.spec["bias"] == true ||
            consumers_[n.input(1 - k)] != 1)
          fail_node(n, "adds a constant other than a linear layer's bias");
        ValueRec v = x;
        const int64_t out = v.layer.weights[0].shape[0];
        if (b.f.size() != size_t(out)) fail_node(n, "bias length differs from the layer's outputs");
        v.layer.spec["bias"] = true;
        v.layer.weights.push_back(weight(n.input(k), {out}, b.f));
        values_[n.output(0)] = std::move(v);
        return;
      }
    const ValueRec& a = value(n, 0);
    const ValueRec& b = value(n, 1);
    if (a.rank != b.rank) fail_node(n, "adds tensors of different ranks");
    // The last value both inputs derive from: where the block starts.
    std::set<std::string> ancestors;
    for (std::string v = n.input(0);; v = values_.at(v).prev) {
      ancestors.insert(v);
      if (v == input_) break;
    }
    std::string start = n.input(1);
    while (!ancestors.count(start)) start = values_.at(start).prev;
    std::vector<LayerRec> pa = path(start, n.input(0)), pb = path(start, n.input(1));
    if (pa.size() < pb.size()) std::swap(pa, pb);  // pa: the branch
    if (pa.empty()) fail_node(n, "adds a value to itself");
    LayerRec block;
    block.spec = {{"type", "residual"}, {"activation", "none"}, {"layers", json::array()}};
    for (auto& l : pa) {
      block.spec["layers"].push_back(l.spec);
      for (auto& w : l.weights) block.weights.push_back(std::move(w));
    }
    if (pb.empty()) {
      block.spec["shortcut"] = "identity";
    } else if (is_projection(pb)) {
      block.spec["shortcut"] = "projection";
      projection_weights(n, pb, block.weights);
    } else {
      fail_node(n, "joins two paths of " + std::to_string(pa.size()) + " and " + std::to_string(pb.size()) +
                       " layers; a residual shortcut must be the identity or a 1x1 convolution "
                       "(+ BatchNormalization)");
    }
    set(n, start, std::move(block), a.rank);
  }

  // The engine's projection is conv 1x1 (no bias) + BatchNorm: a bias (BN
  // folded in by the exporter) becomes BatchNorm's shift with unit scale.
  void projection_weights(const onnx::NodeProto& n, std::vector<LayerRec>& pb, std::vector<ImportedWeight>& out) {
    LayerRec& c = pb[0];
    const int64_t K = c.weights[0].shape[0];
    std::vector<float> bias(size_t(K), 0.f);
    if (c.spec["bias"] == true) bias = c.weights[1].values;
    out.push_back(c.weights[0]);
    if (pb.size() == 2) {
      if (std::abs(pb[1].spec["eps"].get<float>() - kIdentityBnEps) > 1e-12f)
        fail_node(n, "shortcut BatchNormalization uses epsilon " + pb[1].spec["eps"].dump() +
                         "; the engine's projection shortcut uses 1e-5");
      auto w = pb[1].weights;  // gamma, beta, mean, var
      for (size_t k = 0; k < size_t(K); ++k) w[2].values[k] -= bias[k];
      for (auto& t : w) out.push_back(std::move(t));
      return;
    }
    const std::string src = c.weights[0].source + " (shortcut)";
    out.push_back(weight(src, {K}, std::vector<float>(size_t(K), 1.f)));
    out.push_back(weight(src, {K}, bias));
    out.push_back(weight(src, {K}, std::vector<float>(size_t(K), 0.f)));
    out.push_back(weight(src, {K}, std::vector<float>(size_t(K), 1.f - kIdentityBnEps)));
  }

  ImportedGraph assemble(const std::string& output, const std::string& graph_name) {
    if (!values_.count(output))
      throw InputError(path_, "graph output '" + output + "' is not computed from the input by supported nodes");
    ImportedGraph g;
    g.spec = {
        {"name", graph_name.empty() ? "imported" : graph_name}, {"input", input_shape_}, {"layers", json::array()}};
    std::vector<LayerRec> layers = path(input_, output);
    if (layers.empty()) throw InputError(path_, "has no layers between input and output");
    for (auto& l : layers) {
      g.spec["layers"].push_back(l.spec);
      for (auto& w : l.weights) g.weights.push_back(std::move(w));
    }
    const json& last = layers.back().spec;
    if (last["type"] != "linear")
      throw InputError(path_, "does not end in a fully connected layer (Gemm/MatMul) giving the class scores");
    g.spec["classes"] = last["out_features"];
    g.mean = mean_;
    g.std = std_;
    if (mean_.empty() != std_.empty())
      throw InputError(path_, "normalises its input with only one of Sub (mean) and Div (std)");
    return g;
  }

  std::string path_;
  std::vector<int64_t> input_override_;
  int opset_ = 13;
  std::map<std::string, Const> consts_;
  std::map<std::string, int> consumers_;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers_of_;
  std::set<std::string> relu6_halves_;  // HardSigmoid outputs awaiting their Mul
  std::map<std::string, ValueRec> values_;
  std::string input_, centred_;
  std::vector<int64_t> input_shape_;
  std::vector<float> mean_, std_;
};

}  // namespace

ImportedGraph read_onnx_graph(const std::string& path, const std::vector<int64_t>& input_override) {
  return OnnxReader(path, input_override).read();
}

}  // namespace perceptra::import
