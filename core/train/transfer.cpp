#include "core/train/transfer.h"

#include <cmath>
#include <set>

#include "core/nn/model.h"
#include "core/optim/optimizer.h"
#include "core/tensor/error.h"
#include "core/io/model_file.h"

namespace perceptra {

int head_layer_index(const nlohmann::json& spec, const std::string& where) {
  const auto& layers = spec.at("layers");
  for (int i = static_cast<int>(layers.size()) - 1; i >= 0; --i)
    if (layers[i].value("type", "") == "linear") return i;
  throw InputError(where, "model has no linear classifier layer to replace");
}

std::unique_ptr<Model> adapt_for_transfer(LoadedModel& loaded, const Shape& input, int classes, Rng& rng,
                                          const std::string& where) {
  Model& src = *loaded.model;
  if (src.input_shape() != input)
    throw InputError(where, "model input " + src.input_shape().str() + " does not match the new data's " + input.str());
  if (src.num_classes() == classes) return std::move(loaded.model);
  nlohmann::json spec = src.spec();
  int head = head_layer_index(spec, where);
  spec["layers"][head]["out_features"] = classes;
  spec["classes"] = classes;
  auto dst = Model::from_spec(spec, rng, src.device());
  std::set<Parameter*> head_params;
  for (Parameter* p : dst->layers()[head]->parameters()) head_params.insert(p);
  auto src_params = src.parameters();
  for (Parameter* p : dst->parameters()) {
    if (head_params.count(p)) continue;
    for (Parameter* q : src_params) {
      if (q->name != p->name) continue;
      if (q->value.shape() != p->value.shape())
        throw InputError(where, "parameter '" + p->name + "' has shape " + q->value.shape().str() +
                                    " but the new model needs " + p->value.shape().str());
      p->value.copy_from(q->value);
    }
  }
  return dst;
}

namespace {

void walk(Layer* l, bool in_bn, std::vector<std::pair<Parameter*, bool>>& out) {
  auto kids = l->children();
  bool bn = in_bn || l->type().rfind("batchnorm", 0) == 0;
  if (kids.empty()) {
    for (Parameter* p : l->parameters()) out.emplace_back(p, bn);
    return;
  }
  // Parameters owned by the block itself, not by a child.
  std::set<Parameter*> child_params;
  for (Layer* k : kids)
    for (Parameter* p : k->parameters()) child_params.insert(p);
  for (Parameter* p : l->parameters())
    if (!child_params.count(p)) out.emplace_back(p, bn);
  for (Layer* k : kids) walk(k, bn, out);
}

}  // namespace

void assign_transfer_groups(Model& model, int head_index) {
  auto layers = model.layers();
  std::vector<int> parameterised;
  for (int i = 0; i < head_index; ++i)
    if (!layers[i]->parameters().empty()) parameterised.push_back(i);
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    int group = 2;
    if (i < head_index) {
      int pos = 0;
      while (pos < static_cast<int>(parameterised.size()) && parameterised[pos] < i) ++pos;
      group = 2 * pos < static_cast<int>(parameterised.size()) ? 0 : 1;
    }
    for (Parameter* p : layers[i]->parameters()) p->group = group;
  }
}

void apply_lr_scales(Optimizer& optimizer, double lr_mult) {
  auto& g = optimizer.groups();
  if (g.size() < 3) g.resize(3);
  g[0].lr_scale = static_cast<float>(1.0 / lr_mult);
  g[1].lr_scale = static_cast<float>(1.0 / std::sqrt(lr_mult));
  g[2].lr_scale = 1.f;
}

void set_body_frozen(Model& model, int head_index, bool frozen) {
  auto layers = model.layers();
  for (int i = 0; i < static_cast<int>(layers.size()); ++i) {
    std::vector<std::pair<Parameter*, bool>> params;
    walk(layers[i], false, params);
    for (auto [p, bn] : params) {
      if (!p->grad.defined()) continue;  // buffers stay non-trainable
      p->trainable = !frozen || i >= head_index || bn;
    }
  }
}

}  // namespace perceptra
