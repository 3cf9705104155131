#include "core/io/checkpoint.h"

#include <functional>

#include "core/io/tensor_file.h"
#include "core/io/weights.h"
#include "core/nn/dropout.h"
#include "core/nn/layer_util.h"
#include "core/tensor/error.h"

namespace perceptra {
namespace {

// Every Dropout in the model, depth-first, with a path of layer names.
// Layer names are full paths already ("block3.drop1"), unique in a model.
void visit_dropout(const std::vector<Layer*>& layers, const std::function<void(const std::string&, Dropout&)>& f) {
  for (Layer* l : layers) {
    if (auto* d = dynamic_cast<Dropout*>(l)) f(l->name(), *d);
    visit_dropout(l->children(), f);
  }
}

// Dropout seeds are 64-bit: JSON numbers would lose bits in other tools, so strings.
nlohmann::json dropout_states(Model& model) {
  nlohmann::json out = nlohmann::json::array();
  visit_dropout(model.layers(), [&](const std::string& name, Dropout& d) {
    out.push_back({{"layer", name}, {"seed", std::to_string(d.seed())}, {"calls", std::to_string(d.calls())}});
  });
  return out;
}

// A hand-edited checkpoint (valid checksum) must not resume a run at a
// nonsense position: counters are non-negative and consistent.
void check_state(const Checkpoint& ck, const std::string& path) {
  constexpr int64_t kMaxCount = int64_t(1) << 50;
  const auto& st = ck.state;
  if (st.epoch < 0 || st.epoch > (1 << 30))
    throw InputError(path, "checkpoint state: epoch " + std::to_string(st.epoch) + " is out of range");
  if (st.step < 0 || st.step > kMaxCount)
    throw InputError(path, "checkpoint state: step " + std::to_string(st.step) + " is out of range");
  const auto& t = st.trainer;
  if (!t.is_object()) throw InputError(path, "checkpoint state: 'trainer' is not an object");
  auto count = [&](const nlohmann::json& j, const char* field, int64_t hi) {
    if (!j.is_object() || !j.contains(field)) return;
    const auto& v = j[field];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > hi)
      throw InputError(
          path, std::string("checkpoint state: '") + field + "' must be an integer in [0, " + std::to_string(hi) + "]");
  };
  // The batch within the epoch cannot exceed the batches run in total.
  count(t, "batch", st.step);
  if (t.contains("epoch_sums")) {
    count(t["epoch_sums"], "correct", kMaxCount);
    count(t["epoch_sums"], "count", kMaxCount);
  }
  if (t.contains("best")) count(t["best"], "bad_epochs", 1 << 30);
  if (!ck.optimizer.is_null()) {
    if (!ck.optimizer.is_object()) throw InputError(path, "checkpoint state: 'optimizer' is not an object");
    count(ck.optimizer, "step_count", kMaxCount);
  }
}

}  // namespace

void save_checkpoint(const std::string& path, Model& model, Optimizer* optimizer, const ModelMeta& meta_in,
                     const CheckpointState& state) {
  nlohmann::json header = detail::model_header(model, meta_in, path);
  header["state"] = {{"epoch", state.epoch},
                     {"step", state.step},
                     {"rng", state.rng},
                     {"schedule", state.schedule},
                     {"trainer", state.trainer}};
  header["dropout"] = dropout_states(model);
  auto refs = weight_refs(model);
  if (optimizer) {
    std::vector<float> scales;
    for (const auto& g : optimizer->groups()) scales.push_back(g.lr_scale);
    header["optimizer"] = {{"lr", optimizer->lr()},
                           {"momentum", optimizer->momentum()},
                           {"step_count", optimizer->step_count()},
                           {"lr_scales", scales}};
    for (auto& [name, t] : optimizer->state()) refs.push_back({name, "optimizer", t});
  } else {
    header["optimizer"] = nullptr;
  }
  tensor_file::write(path, tensor_file::Kind::Checkpoint, std::move(header), refs);
}

Checkpoint load_checkpoint(const std::string& path) {
  auto c = tensor_file::read(path);
  if (c.kind != tensor_file::Kind::Checkpoint)
    throw InputError(path, "is a " + tensor_file::kind_name(c.kind) +
                               " file, not a checkpoint (it has no optimizer or epoch state)");
  auto v = detail::validate_contents(c, path);
  Checkpoint ck;
  ck.spec = std::move(v.spec);
  ck.meta = std::move(v.meta);
  try {
    const auto& s = c.header.at("state");
    ck.state.epoch = s.at("epoch").get<int64_t>();
    ck.state.step = s.at("step").get<int64_t>();
    ck.state.rng = s.at("rng").get<std::map<std::string, std::string>>();
    ck.state.schedule = s.value("schedule", nlohmann::json::object());
    ck.state.trainer = s.value("trainer", nlohmann::json::object());
    ck.optimizer = c.header.value("optimizer", nlohmann::json());
    ck.dropout = c.header.value("dropout", nlohmann::json::array());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, std::string("bad checkpoint header: ") + e.what());
  }
  check_state(ck, path);
  for (const auto& t : c.tensors) {
    auto pair = std::make_pair(t.name, Tensor::from_vector(t.shape, t.values));
    if (t.section == "weights")
      ck.weights.push_back(std::move(pair));
    else if (t.section == "optimizer")
      ck.optimizer_state.push_back(std::move(pair));
    else
      throw InputError(path, "tensor '" + t.name + "' is in unknown section '" + t.section + "'");
  }
  return ck;
}

std::unique_ptr<Model> build_model(const Checkpoint& ck, Device device) {
  int64_t stored = 0;
  for (const auto& w : ck.weights) stored += w.second.numel();
  std::unique_ptr<Model> model;
  {
    ParameterBudget budget(stored);  // the spec allocates no more than the file holds
    model = build_from_spec(ck.spec, "checkpoint", device);
  }
  restore_checkpoint(ck, *model, nullptr);
  return model;
}

void restore_checkpoint(const Checkpoint& ck, Model& model, Optimizer* optimizer, const std::string& where) {
  // Validate everything before changing anything: a refused checkpoint
  // leaves model and optimizer as they were.
  auto params = model.parameters();
  if (ck.weights.size() != params.size())
    throw InputError(where, "checkpoint holds " + std::to_string(ck.weights.size()) +
                                " weight tensors but the model has " + std::to_string(params.size()));
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, t] = ck.weights[i];
    if (name != params[i]->name || t.shape() != params[i]->value.shape())
      throw InputError(where, "weight tensor " + std::to_string(i) + " is '" + name + "' " + t.shape().str() +
                                  " but the model has '" + params[i]->name + "' " + params[i]->value.shape().str());
  }
  std::map<std::string, std::pair<uint64_t, uint64_t>> drop;
  std::vector<float> scales;
  try {
    for (const auto& d : ck.dropout)
      drop[d.at("layer").get<std::string>()] = {std::stoull(d.at("seed").get<std::string>()),
                                                std::stoull(d.at("calls").get<std::string>())};
    if (optimizer) {
      if (ck.optimizer.is_null()) throw InputError(where, "checkpoint has no optimizer state to restore");
      ck.optimizer.at("lr").get<float>();
      ck.optimizer.at("momentum").get<float>();
      scales = ck.optimizer.value("lr_scales", std::vector<float>{});
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(where, std::string("bad checkpoint state: ") + e.what());
  } catch (const std::logic_error& e) {  // stoull
    throw InputError(where, std::string("bad dropout state: ") + e.what());
  }
  if (optimizer) {
    auto& groups = optimizer->groups();
    if (scales.size() != groups.size())
      throw InputError(where, "checkpoint has " + std::to_string(scales.size()) +
                                  " parameter groups but the optimizer has " + std::to_string(groups.size()));
    // Optimizer tensors go to the model's device. load_state validates names
    // and shapes itself, before it changes anything.
    std::vector<std::pair<std::string, Tensor>> state;
    for (const auto& [name, t] : ck.optimizer_state) state.emplace_back(name, t.to(model.device()));
    optimizer->load_state(state);
    optimizer->set_lr(ck.optimizer.at("lr").get<float>());
    optimizer->set_momentum(ck.optimizer.at("momentum").get<float>());
    for (size_t g = 0; g < groups.size(); ++g) groups[g].lr_scale = scales[g];
  }
  for (size_t i = 0; i < params.size(); ++i) params[i]->value.copy_from(ck.weights[i].second);
  visit_dropout(model.layers(), [&](const std::string& name, Dropout& d) {
    auto it = drop.find(name);
    if (it != drop.end()) d.set_state(it->second.first, it->second.second);
  });
}

}  // namespace perceptra
