#include <cmath>

#include "core/optim/json_fields.h"
#include "core/optim/optimizer.h"
#include "core/optim/slot_optimizer.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {
const char* kWhere = "optimizer";
}

nlohmann::json OptimizerConfig::to_json() const {
  return {{"kind", kind},         {"lr", lr},
          {"momentum", momentum}, {"beta2", beta2},
          {"eps", eps},           {"weight_decay", weight_decay},
          {"nesterov", nesterov}, {"dampening", dampening},
          {"lars_eta", lars_eta}};
}

OptimizerConfig OptimizerConfig::from_json(const nlohmann::json& j) {
  using namespace optim_json;
  require_object(j, kWhere);
  reject_unknown(j, {"kind", "lr", "momentum", "beta2", "eps", "weight_decay", "nesterov", "dampening", "lars_eta"},
                 kWhere);
  OptimizerConfig c;
  read(j, "kind", kWhere, c.kind);
  read(j, "lr", kWhere, c.lr);
  read(j, "momentum", kWhere, c.momentum);
  read(j, "beta2", kWhere, c.beta2);
  read(j, "eps", kWhere, c.eps);
  read(j, "weight_decay", kWhere, c.weight_decay);
  read(j, "nesterov", kWhere, c.nesterov);
  read(j, "dampening", kWhere, c.dampening);
  read(j, "lars_eta", kWhere, c.lars_eta);
  c.validate();
  return c;
}

void OptimizerConfig::validate() const {
  using optim_json::bad_field;
  if (kind != "sgd" && kind != "adam" && kind != "adamw" && kind != "lars")
    throw InputError(kWhere, "field 'kind' must be one of sgd, adam, adamw, lars, got '" + kind + "'");
  // Written as !(x > 0) so NaN fails too.
  if (!(lr > 0) || !std::isfinite(lr)) bad_field(kWhere, "lr", "a positive number", lr);
  if (!(momentum >= 0 && momentum < 1)) bad_field(kWhere, "momentum", "in [0, 1)", momentum);
  if (!(beta2 >= 0 && beta2 < 1)) bad_field(kWhere, "beta2", "in [0, 1)", beta2);
  if (!(eps > 0)) bad_field(kWhere, "eps", "a positive number", eps);
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
    bad_field(kWhere, "weight_decay", "a non-negative number", weight_decay);
  if (!(dampening >= 0 && dampening <= 1)) bad_field(kWhere, "dampening", "in [0, 1]", dampening);
  if (!(lars_eta > 0) || !std::isfinite(lars_eta)) bad_field(kWhere, "lars_eta", "a positive number", lars_eta);
  if (nesterov && (kind == "sgd" || kind == "lars") && (momentum <= 0 || dampening != 0))
    throw InputError(kWhere, "field 'nesterov' requires momentum > 0 and dampening 0 (as PyTorch)");
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::vector<Parameter*> params) {
  config.validate();
  if (config.kind == "sgd") return make_sgd(config, std::move(params));
  if (config.kind == "lars") return make_lars(config, std::move(params));
  return make_adam(config, std::move(params));
}

}  // namespace perceptra
