#include "core/train/config.h"

#include <cmath>
#include <sstream>

#include "core/data/image_size.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

using nlohmann::json;
const char* kWhere = "config";

void require_object(const json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(where, "expected a JSON object, got " + std::string(j.type_name()));
}

void reject_unknown(const json& j, std::initializer_list<const char*> known, const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) throw InputError(where, "unknown field '" + it.key() + "'");
  }
}

[[noreturn]] void bad_type(const std::string& where, const char* key, const char* want, const json& got) {
  throw InputError(where, std::string("field '") + key + "' must be " + want + ", got " + got.dump());
}

void read(const json& j, const char* key, const std::string& where, std::string& out) {
  if (!j.contains(key)) return;
  if (!j[key].is_string()) bad_type(where, key, "a string", j[key]);
  out = j[key].get<std::string>();
}
void read(const json& j, const char* key, const std::string& where, bool& out) {
  if (!j.contains(key)) return;
  if (!j[key].is_boolean()) bad_type(where, key, "true or false", j[key]);
  out = j[key].get<bool>();
}
template <typename T>
void read_int(const json& j, const char* key, const std::string& where, T& out) {
  if (!j.contains(key)) return;
  if (!j[key].is_number_integer()) bad_type(where, key, "an integer", j[key]);
  out = j[key].get<T>();
}
template <typename T>
void read_num(const json& j, const char* key, const std::string& where, T& out) {
  if (!j.contains(key)) return;
  if (!j[key].is_number()) bad_type(where, key, "a number", j[key]);
  out = j[key].get<T>();
}

[[noreturn]] void bad_value(const std::string& where, const char* key, const std::string& want, double got) {
  std::ostringstream s;
  s << "field '" << key << "' must be " << want << ", got " << got;
  throw InputError(where, s.str());
}

}  // namespace

// ---- augment ---------------------------------------------------------------

AugmentOptions parse_augment(const std::string& text) {
  AugmentOptions a;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    std::string key = item.substr(0, eq);
    std::string val = eq == std::string::npos ? "" : item.substr(eq + 1);
    auto number = [&](double dflt, double lo, double hi) {
      if (val.empty()) return dflt;
      double v = 0;
      try {
        size_t used = 0;
        v = std::stod(val, &used);
        if (used != val.size()) throw std::invalid_argument(val);
      } catch (const std::exception&) {
        throw InputError("augment", "'" + key + "' needs a number, got '" + val + "'");
      }
      if (!(v >= lo && v <= hi)) {
        std::ostringstream s;
        s << "'" << key << "' must be in [" << lo << ", " << hi << "], got " << v;
        throw InputError("augment", s.str());
      }
      return v;
    };
    if (key == "flip" || key == "hflip") {
      a.hflip = true;
    } else if (key == "crop") {
      a.crop = true;
      a.crop_padding = static_cast<int>(number(a.crop_padding, 0, 64));
    } else if (key == "rotate") {
      a.rotate = true;
      a.max_degrees = static_cast<float>(number(a.max_degrees, 0, 180));
    } else if (key == "color") {
      a.color = true;
      a.brightness = a.contrast = static_cast<float>(number(a.brightness, 0, 1));
    } else if (key == "resized-crop" || key == "rrc") {
      a.resized_crop = true;
      a.rrc_min_scale = static_cast<float>(number(a.rrc_min_scale, 0.01, 1));
    } else if (key == "none") {
      a = AugmentOptions{};
    } else {
      throw InputError("augment", "unknown augmentation '" + key +
                                      "' (known: flip, crop[=PAD], rotate[=DEG], color[=B], "
                                      "resized-crop[=MIN_SCALE], none)");
    }
  }
  return a;
}

// ---- train config ------------------------------------------------------------

json TrainConfig::to_json() const {
  json j = {{"data", data},
            {"image_size", image_size},
            {"resize", resize},
            {"model", model},
            {"optimizer", optimizer.to_json()},
            {"schedule", schedule.to_json()},
            {"fit", fit},
            {"epochs", epochs},
            {"batch_size", batch_size},
            {"seed", seed},
            {"device", device},
            {"threads", threads},
            {"augment", augment.to_json()},
            {"label_smoothing", label_smoothing},
            {"top_k", top_k},
            {"out_dir", out_dir},
            {"db_path", db_path},
            {"run_name", run_name},
            {"snapshot_every", snapshot_every},
            {"max_batches", max_batches},
            {"precise_bn", precise_bn},
            {"early_stopping",
             {{"patience", early_stopping.patience},
              {"min_delta", early_stopping.min_delta},
              {"monitor", early_stopping.monitor}}},
            {"notify", {{"command", notify.command}, {"each_epoch", notify.each_epoch}}}};
  j["valid_pct"] = valid_pct ? json(*valid_pct) : json(nullptr);
  j["ledger"] = ledger;
  if (precision != "f32") j["precision"] = precision;  // runs recorded before bf16 existed read the same
  if (!from_model.empty()) {
    j["from_model"] = from_model;
    j["freeze_epochs"] = freeze_epochs;
    j["lr_mult"] = lr_mult;
  }
  return j;
}

TrainConfig TrainConfig::from_json(const json& j) {
  require_object(j, kWhere);
  reject_unknown(j, {"data",       "valid_pct",     "image_size",      "resize",      "model",
                     "from_model", "freeze_epochs", "lr_mult",         "optimizer",   "schedule",
                     "fit",        "epochs",        "batch_size",      "seed",        "device",
                     "threads",    "augment",       "label_smoothing", "top_k",       "out_dir",
                     "db_path",    "run_name",      "snapshot_every",  "max_batches", "early_stopping",
                     "notify",     "ledger",        "precise_bn",      "precision"},
                 kWhere);
  TrainConfig c;
  read(j, "data", kWhere, c.data);
  read(j, "image_size", kWhere, c.image_size);
  read(j, "resize", kWhere, c.resize);
  if (j.contains("valid_pct") && !j["valid_pct"].is_null()) {
    double p = 0;
    read_num(j, "valid_pct", kWhere, p);
    c.valid_pct = p;
  }
  if (j.contains("model")) {
    if (!j["model"].is_string() && !j["model"].is_object())
      bad_type(kWhere, "model", "a built-in name, a spec file path or a spec object", j["model"]);
    c.model = j["model"];
  }
  read(j, "from_model", kWhere, c.from_model);
  read_int(j, "freeze_epochs", kWhere, c.freeze_epochs);
  read_num(j, "lr_mult", kWhere, c.lr_mult);
  if (j.contains("optimizer")) c.optimizer = OptimizerConfig::from_json(j["optimizer"]);
  if (j.contains("schedule")) c.schedule = ScheduleConfig::from_json(j["schedule"]);
  read(j, "fit", kWhere, c.fit);
  read_int(j, "epochs", kWhere, c.epochs);
  read_int(j, "batch_size", kWhere, c.batch_size);
  if (j.contains("seed")) {
    if (!j["seed"].is_number_unsigned() && !(j["seed"].is_number_integer() && j["seed"].get<int64_t>() >= 0))
      bad_type(kWhere, "seed", "a non-negative integer", j["seed"]);
    c.seed = j["seed"].get<uint64_t>();
  }
  read(j, "device", kWhere, c.device);
  read_int(j, "threads", kWhere, c.threads);
  read(j, "precision", kWhere, c.precision);
  if (j.contains("augment")) c.augment = AugmentOptions::from_json(j["augment"]);
  read_num(j, "label_smoothing", kWhere, c.label_smoothing);
  read_int(j, "top_k", kWhere, c.top_k);
  read(j, "out_dir", kWhere, c.out_dir);
  read(j, "db_path", kWhere, c.db_path);
  read(j, "run_name", kWhere, c.run_name);
  read_int(j, "snapshot_every", kWhere, c.snapshot_every);
  read_int(j, "max_batches", kWhere, c.max_batches);
  read_int(j, "precise_bn", kWhere, c.precise_bn);
  if (j.contains("early_stopping")) {
    const std::string w = "config.early_stopping";
    const json& e = j["early_stopping"];
    require_object(e, w);
    reject_unknown(e, {"patience", "min_delta", "monitor"}, w);
    read_int(e, "patience", w, c.early_stopping.patience);
    read_num(e, "min_delta", w, c.early_stopping.min_delta);
    read(e, "monitor", w, c.early_stopping.monitor);
  }
  read(j, "ledger", kWhere, c.ledger);
  if (j.contains("notify")) {
    const std::string w = "config.notify";
    const json& n = j["notify"];
    require_object(n, w);
    reject_unknown(n, {"command", "each_epoch"}, w);
    read(n, "command", w, c.notify.command);
    read(n, "each_epoch", w, c.notify.each_epoch);
  }
  c.validate();
  return c;
}

void TrainConfig::validate() const {
  if (data.empty()) throw InputError(kWhere, "field 'data' must name a dataset or a path");
  parse_image_size(image_size, std::string(kWhere) + " field 'image_size'");
  parse_resize_policy(resize, std::string(kWhere) + " field 'resize'");
  if (valid_pct && !(*valid_pct > 0 && *valid_pct < 100)) bad_value(kWhere, "valid_pct", "in (0, 100)", *valid_pct);
  if (epochs < 1 || epochs > 100000) bad_value(kWhere, "epochs", "in [1, 100000]", epochs);
  if (batch_size < 1 || batch_size > 65536) bad_value(kWhere, "batch_size", "in [1, 65536]", batch_size);
  if (threads < 0 || threads > 1024) bad_value(kWhere, "threads", "in [0, 1024]", threads);
  if (precision != "f32" && precision != "bf16")
    throw InputError(kWhere, "field 'precision' must be f32 or bf16, got '" + precision + "'");
  if (!(label_smoothing >= 0 && label_smoothing < 1))
    bad_value(kWhere, "label_smoothing", "in [0, 1)", label_smoothing);
  if (top_k < 1) bad_value(kWhere, "top_k", "at least 1", top_k);
  if (fit != "plain" && fit != "one-cycle")
    throw InputError(kWhere, "field 'fit' must be plain or one-cycle, got '" + fit + "'");
  if (snapshot_every < 0) bad_value(kWhere, "snapshot_every", "0 (off) or positive", snapshot_every);
  if (max_batches < 0) bad_value(kWhere, "max_batches", "0 (all) or positive", max_batches);
  if (precise_bn < 0 || precise_bn > (int64_t(1) << 40))
    bad_value(kWhere, "precise_bn", "0 (off) or a number of images", precise_bn);
  if (freeze_epochs < 0) bad_value(kWhere, "freeze_epochs", "0 or positive", freeze_epochs);
  if (!(lr_mult >= 1)) bad_value(kWhere, "lr_mult", "at least 1", lr_mult);
  if (early_stopping.patience < 0)
    bad_value("config.early_stopping", "patience", "0 (off) or positive", early_stopping.patience);
  if (early_stopping.monitor != "valid_loss" && early_stopping.monitor != "valid_accuracy")
    throw InputError("config.early_stopping",
                     "field 'monitor' must be valid_loss or valid_accuracy, got '" + early_stopping.monitor + "'");
  if (!model.is_string() && !model.is_object())
    throw InputError(kWhere, "field 'model' must be a built-in name, a spec path or a spec object");
  if (model.is_string() && model.get<std::string>().empty())
    throw InputError(kWhere, "field 'model' must not be empty");
  optimizer.validate();
  schedule.validate();
}

}  // namespace perceptra
