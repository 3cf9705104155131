#include "core/io/model_file.h"

#include <chrono>
#include <cmath>
#include <ctime>

#include "core/io/tensor_file.h"
#include "core/io/weights.h"
#include "core/nn/layer_util.h"
#include "core/tensor/error.h"

#ifndef PERCEPTRA_VERSION
#define PERCEPTRA_VERSION "unknown"
#endif

namespace perceptra {

namespace detail {

std::string utc_now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string perceptra_version() { return PERCEPTRA_VERSION; }

void check_meta(const Model& model, const ModelMeta& meta, const std::string& where) {
  check_meta(model.input_shape(), model.num_classes(), meta, where);
}

void check_meta(const Shape& in, int num_classes, const ModelMeta& meta, const std::string& where) {
  if (!meta.class_names.empty() && int64_t(meta.class_names.size()) != num_classes)
    throw InputError(where, "metadata has " + std::to_string(meta.class_names.size()) +
                                " class names but the model has " + std::to_string(num_classes) + " classes");
  if (meta.mean.size() != meta.std.size())
    throw InputError(where, "normalisation has " + std::to_string(meta.mean.size()) + " means but " +
                                std::to_string(meta.std.size()) + " std values");
  if (!meta.mean.empty() && in.rank() >= 1 && int64_t(meta.mean.size()) != in[0])
    throw InputError(where, "normalisation has " + std::to_string(meta.mean.size()) + " channels but the model input " +
                                in.str() + " has " + std::to_string(in[0]));
  for (size_t c = 0; c < meta.std.size(); ++c)
    if (!(meta.std[c] > 0) || !std::isfinite(meta.std[c]) || !std::isfinite(meta.mean[c]))
      throw InputError(where, "normalisation of channel " + std::to_string(c) + " is not usable (mean " +
                                  std::to_string(meta.mean[c]) + ", std " + std::to_string(meta.std[c]) + ")");
}

}  // namespace detail

nlohmann::json ModelMeta::to_json() const {
  nlohmann::json j;
  j["class_names"] = class_names;
  j["normalization"] = {
      {"mean", mean}, {"std", std}, {"applies_to", "pixel values in [0,1]: (x - mean) / std per channel"}};
  if (!resize.empty()) j["resize"] = resize;
  j["training"] = training;
  j["extra"] = extra;
  j["created_at"] = created_at;
  j["perceptra_version"] = perceptra_version;
  return j;
}

ModelMeta ModelMeta::from_json(const nlohmann::json& j, const std::string& where) {
  ModelMeta m;
  if (!j.is_object()) throw InputError(where, "field 'meta' is not an object");
  try {
    if (j.contains("class_names")) m.class_names = j["class_names"].get<std::vector<std::string>>();
    if (j.contains("normalization")) {
      const auto& n = j["normalization"];
      m.mean = n.at("mean").get<std::vector<float>>();
      m.std = n.at("std").get<std::vector<float>>();
    }
    if (j.contains("resize")) {
      m.resize = j["resize"].get<std::string>();
      if (m.resize != "squish" && m.resize != "crop" && m.resize != "pad")
        throw InputError(where, "field 'meta.resize' must be squish, crop or pad, got '" + m.resize + "'");
    }
    if (j.contains("training")) m.training = j["training"];
    if (j.contains("extra")) m.extra = j["extra"];
    if (j.contains("created_at")) m.created_at = j["created_at"].get<std::string>();
    if (j.contains("perceptra_version")) m.perceptra_version = j["perceptra_version"].get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where, std::string("bad metadata: ") + e.what());
  }
  return m;
}

nlohmann::json detail::model_header(Model& model, const ModelMeta& meta_in, const std::string& where) {
  check_meta(model, meta_in, where);
  ModelMeta meta = meta_in;
  meta.created_at = utc_now_iso();
  meta.perceptra_version = perceptra_version();
  nlohmann::json header;
  header["spec"] = model.spec();
  header["meta"] = meta.to_json();
  header["input_shape"] = model.input_shape().dims();
  header["num_classes"] = model.num_classes();
  return header;
}

void save_model(const std::string& path, Model& model, const ModelMeta& meta_in) {
  tensor_file::write(path, tensor_file::Kind::Model, detail::model_header(model, meta_in, path), weight_refs(model));
}

namespace detail {

ValidatedHeader validate_contents(const tensor_file::Contents& c, const std::string& path) {
  ValidatedHeader v;
  const auto& spec = c.header.find("spec");
  if (spec == c.header.end() || !spec->is_object())
    throw InputError(path, "header has no model spec (field 'spec' must be an object)");
  v.spec = *spec;
  v.meta = ModelMeta::from_json(c.header.value("meta", nlohmann::json::object()), path);
  // The spec's input and classes, read as Model::from_spec will; a spec
  // without them is refused by the build with the precise field.
  const auto in = v.spec.find("input");
  const auto classes = v.spec.find("classes");
  if (in != v.spec.end() && in->is_array() && classes != v.spec.end() && classes->is_number_integer()) {
    std::vector<int64_t> dims;
    for (const auto& d : *in) {
      if (!d.is_number_integer() || d.get<int64_t>() < 1 || d.get<int64_t>() > (1 << 20))
        throw InputError(path, "stored model spec: field 'input' must hold positive integers");
      dims.push_back(d.get<int64_t>());
    }
    const int64_t k = classes->get<int64_t>();
    if (k < 1 || k > (1 << 24)) throw InputError(path, "stored model spec: field 'classes' must be a positive integer");
    // Metadata indexed by channel and class (predict, eval) must fit
    // before anything reads it.
    check_meta(Shape(dims), int(k), v.meta, path);
  }
  for (const auto& t : c.tensors) {
    if (t.section == "weights")
      v.weight_elements += t.shape.numel();
    else if (t.section != "optimizer")
      throw InputError(path, "tensor '" + t.name + "' is in unknown section '" + t.section + "'");
  }
  return v;
}

std::unique_ptr<Model> build_validated(const tensor_file::Contents& c, const ValidatedHeader& v,
                                       const std::string& path, Device device) {
  std::unique_ptr<Model> model;
  {
    // The spec may allocate no more parameter values than the file holds:
    // a small file with a huge spec is refused before any allocation.
    ParameterBudget budget(v.weight_elements);
    model = build_from_spec(v.spec, path, device);
  }
  copy_weights(c, *model, path);
  return model;
}

}  // namespace detail

LoadedModel load_model(const std::string& path, Device device) {
  auto c = tensor_file::read(path);
  if (c.header.contains("quantization"))
    throw InputError(path,
                     "is an int8 quantised model: load it with load_any_model "
                     "(core/quant/quantized_file.h)");
  auto v = detail::validate_contents(c, path);
  LoadedModel out;
  out.model = detail::build_validated(c, v, path, device);
  out.meta = std::move(v.meta);
  return out;
}

ModelFileInfo inspect_model_file(const std::string& path) {
  auto c = tensor_file::read(path);
  ModelFileInfo info;
  info.kind = tensor_file::kind_name(c.kind);
  info.format_version = c.version;
  info.file_size = c.file_size;
  auto v = detail::validate_contents(c, path);
  info.spec = std::move(v.spec);
  info.meta = std::move(v.meta);
  for (const auto& t : c.tensors)
    if (t.section == "weights") {
      ++info.tensor_count;
      info.parameter_elements += t.shape.numel();
    }
  return info;
}

}  // namespace perceptra
