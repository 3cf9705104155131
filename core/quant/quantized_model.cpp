#include "core/quant/quantized_model.h"

#include <cmath>

#include "core/backend/cpu/cpu_int8.h"
#include "core/nn/activation.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/linear.h"
#include "core/nn/pool2d.h"
#include "core/nn/residual.h"
#include "core/tensor/error.h"

namespace perceptra::quant {

namespace {

bool is_relu(Layer* l) {
  auto* a = dynamic_cast<ActivationLayer*>(l);
  return a && a->kind() == Activation::ReLU;
}

// Layer names are already full ("res4.conv0": see assign_names in layer_factory.cpp).
std::vector<QuantNode> build_seq(const std::vector<Layer*>& layers) {
  std::vector<QuantNode> seq;
  for (size_t i = 0; i < layers.size(); ++i) {
    QuantNode n;
    n.layer = layers[i];
    n.name = layers[i]->name();
    auto* conv = dynamic_cast<Conv2d*>(layers[i]);
    if (conv && conv->options().groups == 1) {
      n.kind = QuantNode::Kind::Conv;
      if (i + 1 < layers.size() && layers[i + 1]->type() == "batchnorm2d") {
        n.bn = dynamic_cast<BatchNorm*>(layers[++i]);
        n.bn_name = n.bn->name();
      }
      if (i + 1 < layers.size() && is_relu(layers[i + 1])) {
        n.relu = true;
        ++i;
      }
    } else if (dynamic_cast<Linear*>(layers[i])) {
      n.kind = QuantNode::Kind::Linear;
      if (i + 1 < layers.size() && is_relu(layers[i + 1])) {
        n.relu = true;
        ++i;
      }
    } else if (auto* r = dynamic_cast<Residual*>(layers[i])) {
      n.kind = QuantNode::Kind::Residual;
      n.relu = r->args().value("activation", std::string("none")) == "relu";
      std::vector<Layer*> kids = r->children();
      std::vector<Layer*> branch(kids.begin(), kids.end() - (r->has_projection() ? 2 : 0));
      n.branch = build_seq(branch);
      if (r->has_projection()) {
        std::vector<Layer*> proj(kids.end() - 2, kids.end());
        n.shortcut = build_seq(proj);
        // A flat (linear + BatchNorm1d) projection stays float: two nodes.
        if (n.shortcut.size() != 1) {
          for (auto& s : n.shortcut) s.kind = QuantNode::Kind::Layer;
        }
      }
    }
    seq.push_back(std::move(n));
  }
  return seq;
}

void collect(std::vector<QuantNode>& seq, std::vector<QuantNode*>& out) {
  for (auto& n : seq) {
    if (n.quantizable()) out.push_back(&n);
    if (n.kind == QuantNode::Kind::Residual) {
      collect(n.branch, out);
      collect(n.shortcut, out);
    }
  }
}

// Scale propagation (see finalize()).
struct Flow {
  bool bytes = false;  // the activation arrives quantised
  float scale = 0;
  bool is_signed = false;
};

bool passes_bytes(const QuantNode& n) {
  if (n.kind != QuantNode::Kind::Layer) return false;
  const std::string t = n.layer->type();
  return t == "maxpool2d" || t == "flatten" || t == "dropout";
}

void propagate(std::vector<QuantNode>& seq, Flow& f) {
  for (auto& n : seq) {
    n.conv_int8.reset();
    n.linear_int8.reset();
    n.sim_weight.reset();
    n.sim_bias.reset();
    switch (n.kind) {
      case QuantNode::Kind::Layer:
        if (!passes_bytes(n)) f.bytes = false;
        break;
      case QuantNode::Kind::Conv:
      case QuantNode::Kind::Linear:
        if (!n.quantized) {
          n.in_scale = n.out_scale = 0;
          f.bytes = false;
          break;
        }
        if (f.bytes) {
          n.in_scale = f.scale;
          n.in_signed = f.is_signed;
        } else {
          n.in_signed = n.in_negative;
          n.in_scale = activation_scale(n.in_threshold, n.in_signed);
        }
        n.out_scale = n.relu && n.out_threshold > 0 ? activation_scale(n.out_threshold, false) : 0;
        f = {n.out_scale > 0, n.out_scale, false};
        break;
      case QuantNode::Kind::Residual: {
        Flow b = f, s = f;
        propagate(n.branch, b);
        propagate(n.shortcut, s);
        n.out_scale = n.relu && n.out_threshold > 0 && n.any_quantized() ? activation_scale(n.out_threshold, false) : 0;
        f = {n.out_scale > 0, n.out_scale, false};
        break;
      }
    }
  }
}

// ---- CPU int8 execution ----

// An activation between nodes: float NCHW, int8 bytes NHWC with a scale,
// or float NHWC (a quantised layer's float output).
struct Act {
  enum class Form { Float, Bytes, FloatNhwc };
  Form form = Form::Float;
  Shape shape;  // logical NCHW or [N, F]
  Tensor f;
  std::shared_ptr<std::vector<uint8_t>> bytes;
  std::shared_ptr<std::vector<float>> nhwc;
  float scale = 0;
  bool is_signed = false;
};

int channels_of(const Shape& s) { return int(s[1]); }

// A node's scratch buffer with room for n values (grows only; the contents
// are overwritten by whoever asked for it).
template <class T>
std::shared_ptr<std::vector<T>> reuse(std::shared_ptr<std::vector<T>>& buf, size_t n) {
  if (!buf) buf = std::make_shared<std::vector<T>>();
  if (buf->size() < n) buf->resize(n);
  return buf;
}
int plane_of(const Shape& s) { return s.rank() == 4 ? int(s[2] * s[3]) : 1; }

Tensor to_float(const Act& a) {
  if (a.form == Act::Form::Float) return a.f;
  Tensor y = Tensor::empty(a.shape);
  const int N = int(a.shape[0]), C = channels_of(a.shape), HW = plane_of(a.shape);
  if (a.form == Act::Form::Bytes) {
    int8::dequantize_nhwc_to_nchw(a.bytes->data(), a.is_signed, N, C, HW, a.scale, y.data());
  } else {
    const float* s = a.nhwc->data();
    float* d = y.data();
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < N; ++n)
      for (int c = 0; c < C; ++c)
        for (int p = 0; p < HW; ++p) d[(size_t(n) * C + c) * HW + p] = s[(size_t(n) * HW + p) * C + c];
  }
  return y;
}

// Float NHWC values of an activation (residual joins), in `buf` unless
// they already are.
std::shared_ptr<std::vector<float>> to_nhwc(const Act& a, std::shared_ptr<std::vector<float>>& buf) {
  if (a.form == Act::Form::FloatNhwc) return a.nhwc;
  const int N = int(a.shape[0]), C = channels_of(a.shape), HW = plane_of(a.shape);
  const size_t count = size_t(a.shape.numel());
  auto out = reuse(buf, count);
  if (a.form == Act::Form::Bytes) {
    for (size_t i = 0; i < count; ++i)
      (*out)[i] = a.scale * (a.is_signed ? float(int8_t((*a.bytes)[i])) : float((*a.bytes)[i]));
    return out;
  }
  const float* s = a.f.data();
#pragma omp parallel for collapse(2) schedule(static)
  for (int n = 0; n < N; ++n)
    for (int p = 0; p < HW; ++p)
      for (int c = 0; c < C; ++c) (*out)[(size_t(n) * HW + p) * C + c] = s[(size_t(n) * C + c) * HW + p];
  return out;
}

// The activation as int8 bytes with (scale, signedness): the bytes
// themselves when they already are, else quantised now into `buf`.
std::shared_ptr<std::vector<uint8_t>> to_bytes(const Act& a, float scale, bool is_signed,
                                               std::shared_ptr<std::vector<uint8_t>>& buf) {
  if (a.form == Act::Form::Bytes) {
    PCHECK(a.scale == scale && a.is_signed == is_signed, "int8 plan: activation scale " + std::to_string(a.scale) +
                                                             " reaches a layer expecting " + std::to_string(scale));
    return a.bytes;
  }
  auto out = reuse(buf, size_t(a.shape.numel()));
  if (a.form == Act::Form::FloatNhwc)
    int8::quantize_nchw_to_nhwc(a.nhwc->data(), 1, 1, int(a.shape.numel()), scale, is_signed, out->data());
  else
    int8::quantize_nchw_to_nhwc(a.f.data(), int(a.shape[0]), channels_of(a.shape), plane_of(a.shape), scale, is_signed,
                                out->data());
  return out;
}

std::vector<float> accumulator_bias(const QuantNode& n) {
  std::vector<float> b(n.bias.size());
  for (size_t k = 0; k < b.size(); ++k) b[k] = n.bias[k] / (n.in_scale * n.weights.scales[k]);
  return b;
}
std::vector<float> output_scales(const QuantNode& n) {
  std::vector<float> s(n.weights.scales.size());
  for (size_t k = 0; k < s.size(); ++k) s[k] = n.in_scale * n.weights.scales[k] / (n.out_scale > 0 ? n.out_scale : 1.f);
  return s;
}

Act run_int8(QuantNode& n, const Act& a);

Act run_seq_int8(std::vector<QuantNode>& seq, Act a) {
  for (auto& n : seq) a = run_int8(n, a);
  return a;
}

Act float_act(Tensor t) {
  Act r;
  r.shape = t.shape();
  r.f = std::move(t);
  return r;
}

Act run_int8(QuantNode& n, const Act& a) {
  switch (n.kind) {
    case QuantNode::Kind::Layer: {
      const std::string t = n.layer->type();
      if (t == "dropout") return a;
      if (a.form == Act::Form::Bytes && !a.is_signed && a.shape.rank() == 4) {
        if (t == "maxpool2d") {
          const auto& o = static_cast<Pool2d*>(n.layer)->options();
          PoolGeometry g = pool_geometry(o, a.shape);
          Act r = a;
          r.shape = n.layer->output_shape(a.shape);
          r.bytes = reuse(n.scratch.out_bytes, size_t(r.shape.numel()));
          int8::maxpool_u8_nhwc(a.bytes->data(), g, r.bytes->data());
          return r;
        }
        if (t == "flatten") {
          // NHWC bytes into the NCHW order flatten defines.
          Act r = a;
          const int N = int(a.shape[0]), C = channels_of(a.shape), HW = plane_of(a.shape);
          r.shape = n.layer->output_shape(a.shape);
          r.bytes = reuse(n.scratch.out_bytes, size_t(r.shape.numel()));
          const uint8_t* s = a.bytes->data();
          uint8_t* d = r.bytes->data();
          for (int i = 0; i < N; ++i)
            for (int c = 0; c < C; ++c)
              for (int p = 0; p < HW; ++p) d[(size_t(i) * C + c) * HW + p] = s[(size_t(i) * HW + p) * C + c];
          return r;
        }
        if (t == "global_avgpool") {
          Tensor y = Tensor::empty(n.layer->output_shape(a.shape));
          int8::global_avgpool_u8_nhwc(a.bytes->data(), int(a.shape[0]), channels_of(a.shape), plane_of(a.shape),
                                       a.scale, y.data());
          return float_act(y);
        }
      }
      return float_act(n.layer->infer(to_float(a)));
    }
    case QuantNode::Kind::Conv:
    case QuantNode::Kind::Linear: {
      if (!n.quantized) {
        Tensor x = to_float(a);
        if (n.kind == QuantNode::Kind::Conv)
          return float_act(static_cast<Conv2d*>(n.layer)->infer_fused(x, n.bn, n.relu));
        Tensor y = n.layer->infer(x);
        if (n.relu)
          backend_for(y.device()).activation_forward(Activation::ReLU, 0.f, y.data(), y.data(), size_t(y.numel()));
        return float_act(y);
      }
      auto src = to_bytes(a, n.in_scale, n.in_signed, n.scratch.in_bytes);
      Act r;
      r.shape = n.layer->output_shape(a.shape);
      const int N = int(a.shape[0]);
      void* dst;
      if (n.out_scale > 0) {
        r.form = Act::Form::Bytes;
        r.bytes = reuse(n.scratch.out_bytes, size_t(r.shape.numel()));
        r.scale = n.out_scale;
        dst = r.bytes->data();
      } else {
        r.form = Act::Form::FloatNhwc;
        r.nhwc = reuse(n.scratch.out_float, size_t(r.shape.numel()));
        dst = r.nhwc->data();
      }
      if (n.built_for != a.shape.sample()) {
        n.conv_int8.reset();
        n.linear_int8.reset();
        n.built_for = a.shape.sample();
      }
      if (n.kind == QuantNode::Kind::Conv) {
        if (!n.conv_int8) {
          auto* conv = static_cast<Conv2d*>(n.layer);
          const auto& o = conv->options();
          int8::ConvInt8Spec s;
          s.g = make_conv_geometry(1, int(a.shape[1]), int(a.shape[2]), int(a.shape[3]), o.out_channels, o.kh, o.kw,
                                   o.sh, o.sw, o.ph, o.pw, o.dh, o.dw);
          s.src_signed = n.in_signed;
          s.relu = n.relu;
          s.dst_u8 = n.out_scale > 0;
          s.scales = output_scales(n);
          s.weights = n.weights.values;
          s.bias = accumulator_bias(n);
          n.conv_int8 = std::make_shared<int8::ConvInt8>(std::move(s));
        }
        n.conv_int8->run(N, src->data(), dst);
      } else {
        if (!n.linear_int8) {
          auto* lin = static_cast<Linear*>(n.layer);
          int8::LinearInt8Spec s;
          s.in = lin->in_features();
          s.out = lin->out_features();
          s.src_signed = n.in_signed;
          s.relu = n.relu;
          s.dst_u8 = n.out_scale > 0;
          s.scales = output_scales(n);
          s.weights = n.weights.values;
          s.bias = accumulator_bias(n);
          n.linear_int8 = std::make_shared<int8::LinearInt8>(std::move(s));
        }
        n.linear_int8->run(N, src->data(), dst);
      }
      return r;
    }
    case QuantNode::Kind::Residual: {
      Act main = run_seq_int8(n.branch, a);
      Act sc = n.shortcut.empty() ? a : run_seq_int8(n.shortcut, a);
      PCHECK(main.shape == sc.shape,
             n.name + ": branch output " + main.shape.str() + " does not match shortcut " + sc.shape.str());
      auto mf = to_nhwc(main, n.scratch.main_nhwc);
      Act r;
      r.shape = main.shape;
      const size_t count = size_t(main.shape.numel());
      std::shared_ptr<std::vector<float>> sf;
      if (sc.form != Act::Form::Bytes) sf = to_nhwc(sc, n.scratch.shortcut_nhwc);
      uint8_t* yq = nullptr;
      float* yf = nullptr;
      if (n.out_scale > 0) {
        r.form = Act::Form::Bytes;
        r.scale = n.out_scale;
        r.bytes = reuse(n.scratch.out_bytes, count);
        yq = r.bytes->data();
      } else {
        r.form = Act::Form::FloatNhwc;
        r.nhwc = reuse(n.scratch.out_float, count);
        yf = r.nhwc->data();
      }
      int8::residual_join_nhwc(mf->data(), sc.form == Act::Form::Bytes ? sc.bytes->data() : nullptr, sc.is_signed,
                               sc.scale, sf ? sf->data() : nullptr, count, n.relu, n.out_scale, yq, yf);
      return r;
    }
  }
  throw Error("int8 plan: unknown node kind");
}

// ---- float execution (simulation and calibration) ----

void fake_quantize_tensor(Tensor& t, float scale, bool is_signed) {
  std::vector<float> v = t.to_vector();
  fake_quantize(v, scale, is_signed);
  t.copy_from(Tensor::from_vector(t.shape(), v));
}

struct FloatRun {
  bool simulate;  // false: nothing quantised, observe
  const QuantizedModel::Observer* observe;
};

Tensor run_float(QuantNode& n, const Tensor& x, const FloatRun& fr);

Tensor run_seq_float(std::vector<QuantNode>& seq, Tensor x, const FloatRun& fr) {
  for (auto& n : seq) x = run_float(n, x, fr);
  return x;
}

Tensor run_float(QuantNode& n, const Tensor& x, const FloatRun& fr) {
  Backend& be = backend_for(x.device());
  switch (n.kind) {
    case QuantNode::Kind::Layer:
      return n.layer->infer(x);
    case QuantNode::Kind::Conv:
    case QuantNode::Kind::Linear: {
      const bool sim = fr.simulate && n.quantized;
      if (!sim) {
        if (fr.observe && *fr.observe) (*fr.observe)(n, false, x);
        Tensor y;
        if (n.kind == QuantNode::Kind::Conv) {
          y = static_cast<Conv2d*>(n.layer)->infer_fused(x, n.bn, n.relu);
        } else {
          y = n.layer->infer(x);
          if (n.relu) be.activation_forward(Activation::ReLU, 0.f, y.data(), y.data(), size_t(y.numel()));
        }
        if (fr.observe && *fr.observe) (*fr.observe)(n, true, y);
        return y;
      }
      if (!n.sim_weight || n.sim_weight->device() != x.device()) {
        Shape ws = n.layer->parameters()[0]->value.shape();
        n.sim_weight =
            std::make_shared<Tensor>(Tensor::from_vector(ws, dequantize_per_channel(n.weights)).to(x.device()));
        n.sim_bias = std::make_shared<Tensor>(Tensor::from_vector({int64_t(n.bias.size())}, n.bias).to(x.device()));
      }
      Tensor xq = x.clone();
      fake_quantize_tensor(xq, n.in_scale, n.in_signed);
      Tensor y = Tensor::empty(n.layer->output_shape(x.shape()), x.device());
      if (n.kind == QuantNode::Kind::Conv) {
        const auto& o = static_cast<Conv2d*>(n.layer)->options();
        ConvGeometry g = make_conv_geometry(int(x.dim(0)), int(x.dim(1)), int(x.dim(2)), int(x.dim(3)), o.out_channels,
                                            o.kh, o.kw, o.sh, o.sw, o.ph, o.pw, o.dh, o.dw, o.groups);
        if (n.relu)
          be.conv2d_forward_relu(g, xq.data(), n.sim_weight->data(), n.sim_bias->data(), y.data());
        else
          be.conv2d_forward(g, xq.data(), n.sim_weight->data(), n.sim_bias->data(), y.data());
      } else {
        auto* lin = static_cast<Linear*>(n.layer);
        const int N = int(x.dim(0)), in = lin->in_features(), out = lin->out_features();
        be.gemm(false, true, N, out, in, 1.f, xq.data(), in, n.sim_weight->data(), in, 0.f, y.data(), out);
        be.add_bias_rows(y.data(), n.sim_bias->data(), N, out);
        if (n.relu) be.activation_forward(Activation::ReLU, 0.f, y.data(), y.data(), size_t(y.numel()));
      }
      if (n.out_scale > 0) fake_quantize_tensor(y, n.out_scale, false);
      return y;
    }
    case QuantNode::Kind::Residual: {
      Tensor main = run_seq_float(n.branch, x, fr);
      Tensor sc = n.shortcut.empty() ? x : run_seq_float(n.shortcut, x, fr);
      PCHECK(main.shape() == sc.shape(),
             n.name + ": branch output " + main.shape().str() + " does not match shortcut " + sc.shape().str());
      Tensor sum = Tensor::empty(main.shape(), x.device());
      const size_t count = size_t(sum.numel());
      be.add(main.data(), sc.data(), sum.data(), count);
      if (n.relu) be.activation_forward(Activation::ReLU, 0.f, sum.data(), sum.data(), count);
      if (fr.observe && *fr.observe) (*fr.observe)(n, true, sum);
      if (fr.simulate && n.out_scale > 0) fake_quantize_tensor(sum, n.out_scale, false);
      return sum;
    }
  }
  throw Error("int8 plan: unknown node kind");
}

}  // namespace

bool QuantNode::any_quantized() const {
  if (quantized) return true;
  for (const auto& n : branch)
    if (n.any_quantized()) return true;
  for (const auto& n : shortcut)
    if (n.any_quantized()) return true;
  return false;
}

QuantizedModel::QuantizedModel(Model& model) : model_(model) { nodes_ = build_seq(model.layers()); }

std::vector<QuantNode*> QuantizedModel::quantizable() {
  std::vector<QuantNode*> out;
  collect(nodes_, out);
  return out;
}

QuantNode* QuantizedModel::find(const std::string& name) {
  for (QuantNode* n : quantizable())
    if (n->name == name) return n;
  return nullptr;
}

int QuantizedModel::quantized_count() {
  int c = 0;
  for (QuantNode* n : quantizable()) c += n->quantized ? 1 : 0;
  return c;
}

void QuantizedModel::quantize_node(QuantNode& n) {
  PCHECK(n.quantizable(), "quantize_node: '" + n.name + "' is not a conv or linear layer");
  auto params = n.layer->parameters();
  std::vector<float> w = params[0]->value.to_vector();
  const int K = int(params[0]->value.dim(0));
  std::vector<double> bias(size_t(K), 0.0);
  if (params.size() > 1) {
    std::vector<float> b = params[1]->value.to_vector();
    for (int k = 0; k < K; ++k) bias[size_t(k)] = b[size_t(k)];
  }
  if (n.bn) {
    // w'[k] = w[k] * scale[k], b'[k] = b[k] * scale[k] + shift[k] (as Conv2d::infer_fused).
    std::vector<double> scale, shift;
    n.bn->eval_scale_shift(scale, shift);
    const size_t per = w.size() / size_t(K);
    for (size_t k = 0; k < size_t(K); ++k) {
      for (size_t i = 0; i < per; ++i) w[k * per + i] = float(w[k * per + i] * scale[k]);
      bias[k] = bias[k] * scale[k] + shift[k];
    }
  }
  n.weights = quantize_per_channel(w, K);
  n.bias.assign(bias.begin(), bias.end());
  n.quantized = true;
}

void QuantizedModel::finalize() {
  Flow f;
  propagate(nodes_, f);
}

Tensor QuantizedModel::infer(const Tensor& x) {
  return x.device() == Device::cpu() ? infer_int8(x) : infer_simulated(x);
}

std::string QuantizedModel::describe() const {
  auto* self = const_cast<QuantizedModel*>(this);
  return "int8 (" + std::to_string(self->quantized_count()) + " of " + std::to_string(self->quantizable_count()) +
         " conv/linear layers quantised)";
}

Tensor QuantizedModel::infer_int8(const Tensor& x) {
  PCHECK(x.device() == Device::cpu(), "int8 inference runs on CPU tensors");
  Act a = run_seq_int8(nodes_, float_act(x));
  return to_float(a);
}

Tensor QuantizedModel::infer_simulated(const Tensor& x) {
  FloatRun fr{true, nullptr};
  return run_seq_float(nodes_, x, fr);
}

Tensor QuantizedModel::infer_float(const Tensor& x, const Observer& observe) {
  FloatRun fr{false, &observe};
  return run_seq_float(nodes_, x, fr);
}

}  // namespace perceptra::quant
