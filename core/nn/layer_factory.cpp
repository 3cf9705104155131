#include "core/nn/layer_factory.h"

#include <cctype>
#include <map>
#include <tuple>

#include "core/nn/activation.h"
#include "core/nn/batchnorm.h"
#include "core/nn/conv2d.h"
#include "core/nn/dropout.h"
#include "core/nn/flatten.h"
#include "core/nn/global_avgpool.h"
#include "core/nn/layer_util.h"
#include "core/nn/linear.h"
#include "core/nn/pool2d.h"
#include "core/nn/residual.h"
#include "core/nn/spec_args.h"

namespace perceptra {

namespace {

const std::vector<std::string> kInitNames = {"default", "kaiming_normal", "kaiming_uniform", "xavier_uniform",
                                             "xavier_normal"};

std::string known_types() {
  std::string s;
  for (const auto& t : layer_types()) s += (s.empty() ? "" : ", ") + t;
  return s;
}

void require_image(const Shape& in, const std::string& where) {
  if (in.rank() != 4)
    throw InputError(where, "expects an image input [channels, height, width] but gets " + in.sample().str());
}

LayerPtr make_linear(const SpecArgs& a, const Shape& in) {
  int out = a.positive_int("out_features", 0);
  if (!out) a.fail("out_features", "is required (a positive integer)");
  bool bias = a.boolean("bias", true);
  InitScheme init = init_scheme_from_name(a.choice("init", "default", kInitNames));
  if (in.rank() != 2)
    throw InputError(a.where(),
                     "expects a flat input [features] but gets " + in.sample().str() + " - add a flatten layer");
  return std::make_unique<Linear>(to_int(in[1]), out, bias, init);
}

LayerPtr make_conv(const SpecArgs& a, const Shape& in) {
  Conv2dOptions o;
  o.out_channels = a.positive_int("out_channels", 0);
  if (!o.out_channels) a.fail("out_channels", "is required (a positive integer)");
  if (!a.has("kernel")) a.fail("kernel", "is required (a positive integer)");
  std::tie(o.kh, o.kw) = a.positive_pair("kernel", {3, 3});
  std::tie(o.sh, o.sw) = a.positive_pair("stride", {1, 1});
  std::tie(o.ph, o.pw) = a.nonneg_pair("padding", {0, 0});
  std::tie(o.dh, o.dw) = a.positive_pair("dilation", {1, 1});
  o.groups = a.positive_int("groups", 1);
  o.bias = a.boolean("bias", true);
  o.init = init_scheme_from_name(a.choice("init", "default", kInitNames));
  require_image(in, a.where());
  o.in_channels = to_int(in[1]);
  if (o.in_channels % o.groups || o.out_channels % o.groups)
    a.fail("groups", "(" + std::to_string(o.groups) + ") must divide the input channels (" +
                         std::to_string(o.in_channels) + ") and out_channels (" + std::to_string(o.out_channels) + ")");
  return std::make_unique<Conv2d>(o);
}

PoolOptions pool_options(const SpecArgs& a) {
  PoolOptions o;
  std::tie(o.kh, o.kw) = a.positive_pair("kernel", {2, 2});
  // The stride defaults to the kernel (PyTorch's default).
  std::tie(o.sh, o.sw) = a.positive_pair("stride", {o.kh, o.kw});
  std::tie(o.ph, o.pw) = a.nonneg_pair("padding", {0, 0});
  if (2 * o.ph > o.kh || 2 * o.pw > o.kw) a.fail("padding", "must be at most half the kernel");
  return o;
}

LayerPtr make_batchnorm(const SpecArgs& a, const Shape& in, bool spatial) {
  float eps = a.number("eps", 1e-5f, 0.f, 1.f);
  if (eps <= 0.f) a.fail("eps", "must be a positive number below 1");
  float momentum = a.number("momentum", 0.1f, 0.f, 1.f, true);
  bool affine = a.boolean("affine", true);
  if (spatial) require_image(in, a.where());
  if (!spatial && in.rank() != 2 && in.rank() != 3)
    throw InputError(a.where(), "expects [features] or [channels, length] but gets " + in.sample().str() +
                                    (in.rank() == 4 ? " - use batchnorm2d for images" : ""));
  return std::make_unique<BatchNorm>(spatial, to_int(in[1]), eps, momentum, affine);
}

}  // namespace

const std::vector<std::string>& layer_types() {
  static const std::vector<std::string> types = {
      "linear",  "conv2d", "maxpool2d", "avgpool2d",   "global_avgpool", "relu",    "leaky_relu", "gelu",
      "sigmoid", "tanh",   "relu6",     "batchnorm1d", "batchnorm2d",    "dropout", "flatten",    "residual"};
  return types;
}

std::string default_name_prefix(const std::string& type) {
  static const std::map<std::string, std::string> prefix = {
      {"linear", "fc"},          {"conv2d", "conv"},      {"maxpool2d", "maxpool"}, {"avgpool2d", "avgpool"},
      {"global_avgpool", "gap"}, {"leaky_relu", "lrelu"}, {"batchnorm1d", "bn"},    {"batchnorm2d", "bn"},
      {"dropout", "drop"},       {"residual", "res"}};
  auto it = prefix.find(type);
  return it == prefix.end() ? type : it->second;
}

std::string layer_where(int index, const nlohmann::json& spec) {
  std::string type = "?";
  if (spec.is_object() && spec.contains("type") && spec["type"].is_string()) type = spec["type"].get<std::string>();
  return "layer " + std::to_string(index) + " (" + type + ")";
}

bool valid_layer_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

LayerPtr make_layer(const nlohmann::json& spec, const Shape& in, const std::string& where) {
  if (!spec.is_object()) throw InputError(where, "a layer must be a JSON object");
  if (!spec.contains("type") || !spec["type"].is_string())
    throw InputError(where, "field 'type' is missing (known types: " + known_types() + ")");
  const std::string type = spec["type"].get<std::string>();
  check_sample_size(in, where);
  LayerPtr layer;
  if (type == "linear") {
    layer = make_linear(SpecArgs(spec, where, {"out_features", "bias", "init"}), in);
  } else if (type == "conv2d") {
    layer = make_conv(
        SpecArgs(spec, where, {"out_channels", "kernel", "stride", "padding", "dilation", "groups", "bias", "init"}),
        in);
  } else if (type == "maxpool2d" || type == "avgpool2d") {
    SpecArgs a(spec, where, {"kernel", "stride", "padding"});
    PoolOptions o = pool_options(a);
    if (type == "maxpool2d")
      layer = std::make_unique<MaxPool2d>(o);
    else
      layer = std::make_unique<AvgPool2d>(o);
  } else if (type == "global_avgpool") {
    SpecArgs a(spec, where, {});
    layer = std::make_unique<GlobalAvgPool>();
  } else if (type == "relu" || type == "gelu" || type == "sigmoid" || type == "tanh" || type == "relu6") {
    SpecArgs a(spec, where, {});
    Activation k = type == "relu"      ? Activation::ReLU
                   : type == "gelu"    ? Activation::GELU
                   : type == "sigmoid" ? Activation::Sigmoid
                   : type == "relu6"   ? Activation::ReLU6
                                       : Activation::Tanh;
    layer = std::make_unique<ActivationLayer>(k);
  } else if (type == "leaky_relu") {
    SpecArgs a(spec, where, {"slope"});
    layer = std::make_unique<ActivationLayer>(Activation::LeakyReLU, a.number("slope", 0.01f, 0.f, 1.f, true));
  } else if (type == "batchnorm1d" || type == "batchnorm2d") {
    layer = make_batchnorm(SpecArgs(spec, where, {"eps", "momentum", "affine"}), in, type == "batchnorm2d");
  } else if (type == "dropout") {
    SpecArgs a(spec, where, {"p"});
    layer = std::make_unique<Dropout>(a.number("p", 0.5f, 0.f, 1.f));
  } else if (type == "flatten") {
    SpecArgs a(spec, where, {});
    layer = std::make_unique<Flatten>();
  } else if (type == "residual") {
    layer = Residual::from_spec(spec, in, where);
  } else {
    throw InputError(where, "unknown layer type '" + type + "' (known: " + known_types() + ")");
  }
  // Shape check of the built layer, reported against this spec row.
  try {
    check_sample_size(layer->output_shape(in), where);
  } catch (const InputError& e) {
    if (e.where() == where || e.where().rfind(where + " >", 0) == 0) throw;
    throw InputError(where, e.problem());
  }
  return layer;
}

nlohmann::json layer_spec(const Layer& layer, const std::string& custom_name) {
  nlohmann::json j = {{"type", layer.type()}};
  if (!custom_name.empty()) j["name"] = custom_name;
  const nlohmann::json args = layer.args();  // keep alive while iterating
  for (auto& [k, v] : args.items()) j[k] = v;
  return j;
}

void assign_names(Layer& layer, const std::string& full) {
  layer.set_name(full);
  auto kids = layer.children();
  if (!kids.empty()) {
    auto* r = dynamic_cast<Residual*>(&layer);
    for (size_t i = 0; i < kids.size(); ++i) {
      std::string local = r ? r->child_local_names().at(i) : kids[i]->name();
      assign_names(*kids[i], full + "." + local);
    }
    return;
  }
  for (Parameter* p : layer.parameters()) {
    auto dot = p->name.rfind('.');
    std::string local = dot == std::string::npos ? p->name : p->name.substr(dot + 1);
    p->name = full + "." + local;
  }
}

}  // namespace perceptra
