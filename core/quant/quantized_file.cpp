#include "core/quant/quantized_file.h"

#include <cmath>
#include <map>
#include <set>

#include "core/io/tensor_file.h"
#include "core/io/weights.h"
#include "core/nn/batchnorm.h"
#include "core/tensor/error.h"

namespace perceptra::quant {

namespace {

constexpr int kFormat = 1;

bool owned_by(const std::string& param, const std::string& layer) {
  return !layer.empty() && param.size() > layer.size() && param.compare(0, layer.size(), layer) == 0 &&
         param[layer.size()] == '.';
}

// Parameters replaced by int8 data: the quantised layers' and their folded BatchNorms'.
bool replaced(const std::string& param, const std::vector<QuantNode*>& nodes) {
  for (const QuantNode* n : nodes)
    if (n->quantized && (owned_by(param, n->name) || owned_by(param, n->bn_name))) return true;
  return false;
}

void collect_residuals(std::vector<QuantNode>& seq, std::vector<QuantNode*>& out) {
  for (auto& n : seq)
    if (n.kind == QuantNode::Kind::Residual) {
      out.push_back(&n);
      collect_residuals(n.branch, out);
    }
}

float finite_number(const nlohmann::json& j, const char* field, const std::string& path, const std::string& node,
                    bool positive) {
  if (!j.contains(field) || !j[field].is_number())
    throw InputError(path, "quantization node '" + node + "': field '" + field + "' is missing or not a number");
  const double v = j[field].get<double>();
  if (!std::isfinite(v) || v < 0 || (positive && v <= 0) || v > 1e30)
    throw InputError(path, "quantization node '" + node + "': field '" + field + "' is " + std::to_string(v) +
                               " (must be a finite " + (positive ? "positive" : "non-negative") + " number)");
  return float(v);
}

bool boolean(const nlohmann::json& j, const char* field, const std::string& path, const std::string& node) {
  if (!j.contains(field) || !j[field].is_boolean())
    throw InputError(path, "quantization node '" + node + "': field '" + field + "' is missing or not true/false");
  return j[field].get<bool>();
}

// Dequantised weights into the float layers, BatchNorm made the identity
// plus the folded bias: forward() then computes what the int8 plan does,
// without the activation rounding.
void install_dequantized(QuantNode& n) {
  auto params = n.layer->parameters();
  params[0]->value.copy_from(Tensor::from_vector(params[0]->value.shape(), dequantize_per_channel(n.weights)));
  const int64_t K = params[0]->value.dim(0);
  if (!n.bn) {
    if (params.size() > 1) params[1]->value.copy_from(Tensor::from_vector({K}, n.bias));
    return;
  }
  if (params.size() > 1) params[1]->value.fill(0.f);
  for (Parameter* p : n.bn->parameters()) {
    const std::string& s = p->name;
    auto ends = [&](const std::string& suffix) {
      return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends(".weight"))
      p->value.fill(1.f);
    else if (ends(".bias"))
      p->value.copy_from(Tensor::from_vector({K}, n.bias));
    else if (ends(".running_mean"))
      p->value.fill(0.f);
    else if (ends(".running_var"))
      p->value.fill(1.f - n.bn->eps());
  }
}

}  // namespace

void save_quantized_model(const std::string& path, QuantizedModel& qm, const ModelMeta& meta,
                          const nlohmann::json& report) {
  Model& model = qm.model();
  nlohmann::json header = detail::model_header(model, meta, path);
  auto nodes = qm.quantizable();
  nlohmann::json jn = nlohmann::json::array();
  std::vector<tensor_file::TensorRef> refs;
  for (Parameter* p : model.parameters())
    if (!replaced(p->name, nodes)) refs.push_back({p->name, "weights", p->value});
  for (QuantNode* n : nodes) {
    jn.push_back({{"name", n->name},
                  {"kind", n->kind == QuantNode::Kind::Conv ? "conv2d" : "linear"},
                  {"quantized", n->quantized},
                  {"batchnorm", n->bn_name},
                  {"relu", n->relu},
                  {"in_threshold", n->in_threshold},
                  {"in_negative", n->in_negative},
                  {"out_threshold", n->out_threshold},
                  {"in_scale", n->in_scale},
                  {"in_signed", n->in_signed},
                  {"out_scale", n->out_scale}});
    if (!n->quantized) continue;
    const Shape ws = n->layer->parameters()[0]->value.shape();
    const int64_t K = ws[0];
    refs.push_back(tensor_file::TensorRef::int8(n->name + ".weight", "int8", ws, n->weights.values));
    refs.push_back({n->name + ".weight_scale", "quant", Tensor::from_vector({K}, n->weights.scales)});
    refs.push_back({n->name + ".bias", "quant", Tensor::from_vector({K}, n->bias)});
  }
  std::vector<QuantNode*> res;
  collect_residuals(qm.nodes(), res);
  nlohmann::json jr = nlohmann::json::array();
  for (QuantNode* r : res)
    jr.push_back({{"name", r->name}, {"out_threshold", r->out_threshold}, {"out_scale", r->out_scale}});
  header["quantization"] = {{"format", kFormat}, {"nodes", jn}, {"residuals", jr}, {"report", report}};
  tensor_file::write(path, tensor_file::Kind::Model, header, refs);
}

LoadedModel load_any_model(const std::string& path, Device device) {
  auto c = tensor_file::read(path);
  if (!c.header.contains("quantization")) return load_model(path, device);
  if (!c.header.contains("spec")) throw InputError(path, "header has no model spec");
  const auto& q = c.header["quantization"];
  if (!q.is_object() || !q.contains("format") || !q["format"].is_number_integer())
    throw InputError(path, "field 'quantization' is not an object with an integer 'format'");
  if (q["format"].get<int64_t>() != kFormat)
    throw InputError(path, "quantization format " + q["format"].dump() + " is not supported (this build reads " +
                               std::to_string(kFormat) + ")");
  if (!q.contains("nodes") || !q["nodes"].is_array())
    throw InputError(path, "field 'quantization.nodes' is missing or not a list");

  LoadedModel out;
  out.meta = ModelMeta::from_json(c.header.value("meta", nlohmann::json::object()), path);
  out.model = build_from_spec(c.header["spec"], path, Device::cpu());
  detail::check_meta(*out.model, out.meta, path);
  auto qm = std::make_shared<QuantizedModel>(*out.model);
  auto nodes = qm->quantizable();

  std::map<std::string, const nlohmann::json*> by_name;
  for (const auto& j : q["nodes"]) {
    if (!j.is_object() || !j.contains("name") || !j["name"].is_string())
      throw InputError(path, "field 'quantization.nodes' has an entry without a 'name'");
    by_name[j["name"].get<std::string>()] = &j;
  }
  std::map<std::string, const tensor_file::StoredTensor*> stored;
  for (const auto& t : c.tensors) stored[t.section + "/" + t.name] = &t;
  auto tensor = [&](const std::string& section, const std::string& name, const Shape& shape,
                    bool int8) -> const tensor_file::StoredTensor& {
    auto it = stored.find(section + "/" + name);
    if (it == stored.end()) throw InputError(path, "tensor '" + name + "' (section '" + section + "') is missing");
    const auto& t = *it->second;
    if (t.shape != shape || t.is_int8 != int8)
      throw InputError(path, "tensor '" + name + "' is " + (t.is_int8 ? "int8 " : "float32 ") + t.shape.str() +
                                 " but the model needs " + (int8 ? "int8 " : "float32 ") + shape.str());
    return t;
  };

  for (QuantNode* n : nodes) {
    auto it = by_name.find(n->name);
    if (it == by_name.end())
      throw InputError(path, "field 'quantization.nodes' has no entry for layer '" + n->name + "'");
    const auto& j = *it->second;
    n->quantized = boolean(j, "quantized", path, n->name);
    n->in_negative = boolean(j, "in_negative", path, n->name);
    n->in_threshold = finite_number(j, "in_threshold", path, n->name, false);
    n->out_threshold = finite_number(j, "out_threshold", path, n->name, false);
    if (!n->quantized) continue;
    const Shape ws = n->layer->parameters()[0]->value.shape();
    const int64_t K = ws[0];
    n->weights.values = tensor("int8", n->name + ".weight", ws, true).int8_values;
    n->weights.scales = tensor("quant", n->name + ".weight_scale", Shape({K}), false).values;
    n->bias = tensor("quant", n->name + ".bias", Shape({K}), false).values;
    for (float s : n->weights.scales)
      if (!(s > 0) || !std::isfinite(s))
        throw InputError(path, "tensor '" + n->name + ".weight_scale' holds " + std::to_string(s) +
                                   " (scales must be finite and positive)");
    for (float b : n->bias)
      if (!std::isfinite(b)) throw InputError(path, "tensor '" + n->name + ".bias' holds a non-finite value");
    for (int8_t v : n->weights.values)
      if (v < -kWeightLevels || v > kWeightLevels)
        throw InputError(path, "tensor '" + n->name + ".weight' holds " + std::to_string(int(v)) +
                                   " (int8 weights are in [-" + std::to_string(kWeightLevels) + ", " +
                                   std::to_string(kWeightLevels) + "])");
  }
  std::vector<QuantNode*> res;
  collect_residuals(qm->nodes(), res);
  std::map<std::string, const nlohmann::json*> res_by_name;
  if (q.contains("residuals") && q["residuals"].is_array())
    for (const auto& j : q["residuals"])
      if (j.is_object() && j.contains("name") && j["name"].is_string()) res_by_name[j["name"].get<std::string>()] = &j;
  for (QuantNode* r : res) {
    auto it = res_by_name.find(r->name);
    if (it == res_by_name.end())
      throw InputError(path, "field 'quantization.residuals' has no entry for block '" + r->name + "'");
    r->out_threshold = finite_number(*it->second, "out_threshold", path, r->name, false);
  }

  // Float parameters: every one not replaced by int8 data.
  std::set<std::string> expected;
  for (Parameter* p : out.model->parameters()) {
    if (replaced(p->name, nodes)) continue;
    expected.insert(p->name);
    const auto& t = tensor("weights", p->name, p->value.shape(), false);
    p->value.copy_from(Tensor::from_vector(t.shape, t.values));
  }
  for (const auto& t : c.tensors)
    if (t.section == "weights" && !expected.count(t.name))
      throw InputError(path, "tensor '" + t.name +
                                 "' (section 'weights') belongs to no float "
                                 "layer of this int8 model");
  for (QuantNode* n : nodes)
    if (n->quantized) install_dequantized(*n);
  qm->finalize();
  if (device != Device::cpu()) out.model->to(device);
  out.model->set_inference_override(qm);
  return out;
}

nlohmann::json quantization_report(const std::string& path) {
  auto c = tensor_file::read(path);
  if (!c.header.contains("quantization") || !c.header["quantization"].is_object()) return nlohmann::json::object();
  return c.header["quantization"].value("report", nlohmann::json::object());
}

bool is_quantized_file(const std::string& path) { return tensor_file::read(path).header.contains("quantization"); }

}  // namespace perceptra::quant
