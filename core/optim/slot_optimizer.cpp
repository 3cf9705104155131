#include "core/optim/slot_optimizer.h"

#include <algorithm>
#include <cmath>

#include "core/tensor/error.h"

namespace perceptra {

SlotOptimizer::SlotOptimizer(const OptimizerConfig& config, std::vector<Parameter*> params,
                             std::vector<std::string> slot_names, bool save_param_steps)
    : config_(config), slot_names_(std::move(slot_names)), save_param_steps_(save_param_steps) {
  config_.validate();
  params_ = std::move(params);
  lr_ = config_.lr;
  momentum_ = config_.momentum;
  int max_group = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter* p = params_[i];
    PCHECK(p != nullptr, "make_optimizer: parameter " + std::to_string(i) + " is null");
    PCHECK(p->group >= 0, "make_optimizer: parameter '" + p->name + "' has negative group " + std::to_string(p->group));
    max_group = std::max(max_group, p->group);
    // Unnamed parameters (hand-built tests) get their index as the name.
    std::string key = p->name.empty() ? "param" + std::to_string(i) : p->name;
    PCHECK(index_of_.emplace(key, i).second,
           "make_optimizer: two parameters are named '" + key + "'; state names must be unique");
    keys_.push_back(std::move(key));
  }
  groups_.assign(static_cast<size_t>(max_group) + 1, ParamGroup{});
  states_.resize(params_.size());
}

void SlotOptimizer::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    if (!p.trainable || !p.grad.defined()) continue;
    PCHECK(p.grad.numel() == p.value.numel() && p.grad.device() == p.value.device(),
           "optimizer: grad of '" + key_of(i) + "' is " + p.grad.shape().str() + " on " + p.grad.device().str() +
               " but the parameter is " + p.value.shape().str() + " on " + p.value.device().str());
    PCHECK(p.group >= 0 && p.group < static_cast<int>(groups_.size()),
           "optimizer: parameter '" + key_of(i) + "' is in group " + std::to_string(p.group) +
               " but the optimizer has " + std::to_string(groups_.size()) + " group(s)");
    ParamState& st = states_[i];
    if (st.slots.empty()) {
      for (size_t s = 0; s < slot_names_.size(); ++s)
        st.slots.push_back(Tensor::zeros(p.value.shape(), p.value.device()));
    }
    ++st.steps;
    update(p, st, lr_ * groups_[static_cast<size_t>(p.group)].lr_scale);
  }
  ++steps_;
}

std::vector<std::pair<std::string, Tensor>> SlotOptimizer::state() {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamState& st = states_[i];
    if (st.slots.empty()) continue;
    for (size_t s = 0; s < slot_names_.size(); ++s)
      out.emplace_back(key_of(i) + "." + slot_names_[s], st.slots[s].clone());
    if (save_param_steps_)
      out.emplace_back(key_of(i) + ".step", Tensor::full(Shape{1}, static_cast<float>(st.steps), Device::cpu()));
  }
  out.emplace_back("optimizer.step", Tensor::full(Shape{1}, static_cast<float>(steps_)));
  return out;
}

namespace {
// Step counts travel as one-element float tensors (exact below 2^24).
int64_t read_count(const std::string& name, const Tensor& t) {
  if (t.numel() != 1)
    throw InputError("optimizer state", "'" + name + "' must hold 1 value, has " + std::to_string(t.numel()));
  float v = t.to_vector()[0];
  if (!std::isfinite(v) || v < 0 || v != std::floor(v))
    throw InputError("optimizer state", "'" + name + "' is not a step count: " + std::to_string(v));
  return static_cast<int64_t>(v);
}
}  // namespace

void SlotOptimizer::load_state(const std::vector<std::pair<std::string, Tensor>>& state) {
  const std::string where = "optimizer state";
  std::vector<ParamState> loaded(params_.size());
  std::vector<std::vector<bool>> seen(params_.size(), std::vector<bool>(slot_names_.size() + 1));
  int64_t global_steps = 0;
  for (const auto& [name, t] : state) {
    if (name == "optimizer.step") {
      global_steps = read_count(name, t);
      continue;
    }
    size_t dot = name.rfind('.');
    if (dot == std::string::npos) throw InputError(where, "entry '" + name + "' is not '<parameter>.<slot>'");
    std::string key = name.substr(0, dot), slot = name.substr(dot + 1);
    auto it = index_of_.find(key);
    if (it == index_of_.end()) throw InputError(where, "entry '" + name + "' names no parameter of this model");
    size_t i = it->second;
    Parameter& p = *params_[i];
    ParamState& st = loaded[i];
    if (st.slots.empty()) st.slots.resize(slot_names_.size());
    if (save_param_steps_ && slot == "step") {
      st.steps = read_count(name, t);
      seen[i][slot_names_.size()] = true;
      continue;
    }
    auto s = std::find(slot_names_.begin(), slot_names_.end(), slot);
    if (s == slot_names_.end())
      throw InputError(where, "entry '" + name + "': this " + config_.kind + " optimizer has no state '" + slot + "'");
    // Same shape, not just the same count: a transposed tensor is refused.
    if (t.shape() != p.value.shape())
      throw InputError(where, "entry '" + name + "' has shape " + t.shape().str() + " but the parameter is " +
                                  p.value.shape().str());
    size_t si = static_cast<size_t>(s - slot_names_.begin());
    Tensor copy = Tensor::empty(p.value.shape(), p.value.device());
    copy.copy_from(t);
    st.slots[si] = copy;
    seen[i][si] = true;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (loaded[i].slots.empty()) continue;
    for (size_t s = 0; s < slot_names_.size() + (save_param_steps_ ? 1 : 0); ++s)
      if (!seen[i][s])
        throw InputError(
            where, "parameter '" + key_of(i) + "' lacks '" + (s < slot_names_.size() ? slot_names_[s] : "step") + "'");
    // Without per-parameter counts, every parameter with state has seen
    // the global number of steps (SGD only needs "has a buffer").
    if (!save_param_steps_) loaded[i].steps = std::max<int64_t>(global_steps, 1);
  }
  states_ = std::move(loaded);
  steps_ = global_steps;
}

}  // namespace perceptra
