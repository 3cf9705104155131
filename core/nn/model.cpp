#include "core/nn/model.h"

#include <set>

#include "core/backend/backend.h"
#include "core/nn/inference.h"
#include "core/nn/layer_factory.h"
#include "core/nn/layer_util.h"
#include "core/nn/train_fusion.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

const char* kWhere = "model spec";

// A misspelt top-level field ("clases") must not pass silently; free-form
// metadata goes under "meta".
void check_top_level(const nlohmann::json& spec) {
  static const char* kKnown[] = {"name", "description", "input", "classes", "layers", "meta"};
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known)
      throw InputError(kWhere, "unknown top-level field '" + it.key() +
                                   "' (known: name, description, input, classes, layers, meta)");
  }
}

Shape parse_input(const nlohmann::json& spec) {
  if (!spec.contains("input") || !spec["input"].is_array() || (spec["input"].size() != 1 && spec["input"].size() != 3))
    throw InputError(kWhere, "field 'input' must be [channels, height, width] or [features]");
  std::vector<int64_t> dims;
  for (const auto& d : spec["input"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > (1 << 20))
      throw InputError(kWhere, "field 'input' must hold positive integers");
    dims.push_back(d.get<int64_t>());
  }
  return Shape(dims);
}

int parse_classes(const nlohmann::json& spec) {
  if (!spec.contains("classes") || !spec["classes"].is_number_integer() || spec["classes"].get<int64_t>() < 1 ||
      spec["classes"].get<int64_t>() > (1 << 24))
    throw InputError(kWhere, "field 'classes' must be a positive integer");
  return static_cast<int>(spec["classes"].get<int64_t>());
}

const nlohmann::json& parse_layers(const nlohmann::json& spec) {
  if (!spec.contains("layers") || !spec["layers"].is_array() || spec["layers"].empty())
    throw InputError(kWhere, "field 'layers' must be a non-empty list of layers");
  return spec["layers"];
}

Shape batched(const Shape& sample) {
  std::vector<int64_t> d = {1};
  d.insert(d.end(), sample.dims().begin(), sample.dims().end());
  return Shape(d);
}

// Builds the layers of a spec in order. With `rows`, errors are recorded on
// the offending row (and later rows get no shape) instead of thrown.
std::vector<LayerPtr> build_layers(const nlohmann::json& spec, const Shape& input, int classes,
                                   std::vector<LayerSummary>* rows) {
  const auto& specs = parse_layers(spec);
  std::vector<LayerPtr> layers;
  std::set<std::string> used;
  Shape shape = batched(input);
  bool failed = false;
  for (size_t i = 0; i < specs.size(); ++i) {
    const int index = static_cast<int>(i);
    const std::string where = layer_where(index, specs[i]);
    LayerSummary row;
    row.index = index;
    row.type = specs[i].is_object() && specs[i].contains("type") && specs[i]["type"].is_string()
                   ? specs[i]["type"].get<std::string>()
                   : "?";
    row.name = default_name_prefix(row.type) + std::to_string(i);
    if (failed) {  // later rows: listed, but without shapes
      if (rows) rows->push_back(row);
      continue;
    }
    try {
      LayerPtr layer = make_layer(specs[i], shape, where);
      if (specs[i].contains("name")) {
        const auto& n = specs[i]["name"];
        if (!n.is_string() || !valid_layer_name(n.get<std::string>()))
          throw InputError(where, "field 'name' must use letters, digits, '_' or '-'");
        row.name = n.get<std::string>();
      }
      if (!used.insert(row.name).second)
        throw InputError(where, "field 'name': '" + row.name + "' is used by an earlier layer");
      shape = layer->output_shape(shape);
      if (i + 1 == specs.size() && shape.sample() != Shape{classes})
        throw InputError(where, "the model ends with " + shape.sample().str() + " but has " + std::to_string(classes) +
                                    " classes - the last layer must output [" + std::to_string(classes) + "]");
      assign_names(*layer, row.name);
      row.output = shape.sample();
      row.parameters = layer->parameter_count();
      layers.push_back(std::move(layer));
    } catch (const InputError& e) {
      if (!rows) throw;
      row.error = e.what();
      failed = true;
    }
    if (rows) rows->push_back(row);
  }
  return layers;
}

}  // namespace

std::unique_ptr<Model> Model::from_spec(const nlohmann::json& spec, Rng& rng, Device device) {
  if (!spec.is_object()) throw InputError(kWhere, "must be a JSON object");
  check_top_level(spec);
  std::unique_ptr<Model> m(new Model());
  m->input_shape_ = parse_input(spec);
  m->num_classes_ = parse_classes(spec);
  m->layers_ = build_layers(spec, m->input_shape_, m->num_classes_, nullptr);
  for (auto& l : m->layers_) l->reset_parameters(rng);
  // Top-level fields we don't interpret (metadata) travel with the spec.
  m->spec_ = nlohmann::json::object();
  for (auto& [k, v] : spec.items())
    if (k != "layers") m->spec_[k] = v;
  if (device != Device::cpu()) m->to(device);
  return m;
}

std::vector<LayerSummary> Model::analyze(const nlohmann::json& spec) {
  if (!spec.is_object()) throw InputError(kWhere, "must be a JSON object");
  check_top_level(spec);
  Shape input = parse_input(spec);
  int classes = parse_classes(spec);
  std::vector<LayerSummary> rows;
  struct Guard {
    Guard() { analyze_only() = true; }
    ~Guard() { analyze_only() = false; }
  } guard;
  build_layers(spec, input, classes, &rows);
  return rows;
}

std::vector<LayerPtr> Model::analyze_layers(const nlohmann::json& spec) {
  if (!spec.is_object()) throw InputError(kWhere, "must be a JSON object");
  check_top_level(spec);
  Shape input = parse_input(spec);
  int classes = parse_classes(spec);
  struct Guard {
    Guard() { analyze_only() = true; }
    ~Guard() { analyze_only() = false; }
  } guard;
  return build_layers(spec, input, classes, nullptr);
}

nlohmann::json Model::spec() const {
  nlohmann::json j = spec_;
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = *layers_[i];
    bool custom = l.name() != default_name_prefix(l.type()) + std::to_string(i);
    layers.push_back(layer_spec(l, custom ? l.name() : ""));
  }
  j["layers"] = layers;
  return j;
}

void Model::to(Device device) {
  for (auto& l : layers_) l->to(device);
  device_ = device;
}

void Model::check_input(const Tensor& x) const {
  if (x.rank() != input_shape_.rank() + 1 || x.shape().sample() != input_shape_)
    throw InputError("model input", "expects [batch, " + input_shape_.str().substr(1) + " but gets " + x.shape().str());
}

Tensor Model::forward(const Tensor& x, bool training) {
  check_input(x);
  // Layers inside may pass channel-blocked activations; the output is NCHW.
  Tensor h = forward_layers(layers_, x.device() == device_ ? x : x.to(device_), training).in_channel_block(1);
  backward_ready_ = true;
  return h;
}

Tensor Model::infer(const Tensor& x) {
  check_input(x);
  backward_ready_ = false;
  if (override_) return override_->infer(x.device() == device_ ? x : x.to(device_));
  return infer_layers(layers_, x.device() == device_ ? x : x.to(device_));
}

Tensor Model::forward_collect(const Tensor& x, std::vector<Tensor>& outputs) {
  check_input(x);
  outputs.clear();
  Tensor h = x.device() == device_ ? x : x.to(device_);
  for (auto& l : layers_) {
    h = l->forward(h, false);
    outputs.push_back(h.clone());  // value copy: later layers may reuse buffers
  }
  backward_ready_ = true;
  return h;
}

Tensor Model::backward(const Tensor& grad_logits, bool need_input_grad) {
  PCHECK(backward_ready_, "Model::backward needs a forward() first (infer() keeps nothing for it)");
  size_t first = 0;  // layers before `first` get no backward call
  if (!need_input_grad) {
    first = layers_.size();
    for (size_t i = 0; i < layers_.size(); ++i)
      if (layers_[i]->has_trainable_parameters()) {
        first = i;
        break;
      }
  }
  Tensor g = grad_logits;
  for (size_t i = layers_.size(); i-- > first;) {
    layers_[i]->set_input_grad_needed(need_input_grad || i > first);
    g = layers_[i]->backward(g);
  }
  return need_input_grad ? g : Tensor();
}

std::vector<Layer*> Model::layers() {
  std::vector<Layer*> v;
  for (auto& l : layers_) v.push_back(l.get());
  return v;
}

std::vector<Parameter*> Model::parameters() {
  std::vector<Parameter*> all;
  for (auto& l : layers_)
    for (Parameter* p : l->parameters()) all.push_back(p);
  return all;
}

int64_t Model::parameter_count() {
  int64_t n = 0;
  for (auto& l : layers_) n += l->parameter_count();
  return n;
}

std::vector<LayerSummary> Model::summary() {
  std::vector<LayerSummary> rows;
  Shape shape = batched(input_shape_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerSummary r;
    r.index = static_cast<int>(i);
    r.name = layers_[i]->name();
    r.type = layers_[i]->type();
    shape = layers_[i]->output_shape(shape);
    r.output = shape.sample();
    r.parameters = layers_[i]->parameter_count();
    rows.push_back(r);
  }
  return rows;
}

}  // namespace perceptra
