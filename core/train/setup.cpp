#include "core/train/setup.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/curate/dataset_versions.h"
#include "core/nn/model.h"
#include "core/tensor/bounded_json.h"
#include "core/store/store.h"
#include "core/tensor/error.h"
#include "core/tensor/input_file.h"

namespace perceptra {

OpenOptions open_options_for(const Shape& input, const std::string& resize) {
  OpenOptions o;
  o.image.resize = resize.empty() ? ResizePolicy::squish : parse_resize_policy(resize);
  if (input.rank() == 3) {
    o.image.channels = static_cast<int>(input[0]);
    o.image.height = static_cast<int>(input[1]);
    o.image.width = static_cast<int>(input[2]);
  }
  return o;
}

std::string image_cache_dir(const std::string& db_path) {
  const std::string db = db_path.empty() ? ExperimentStore::default_path() : db_path;
  if (db == "-" || db == ":memory:") return "";
  return (std::filesystem::absolute(db).parent_path() / "image-cache").string();
}

PreparedData prepare_data(const TrainConfig& config, const Shape* input, std::shared_ptr<const DataSource> opened) {
  PreparedData p;
  const DataRef ref = parse_data_ref(config.data);
  if (opened) {
    p.source = *opened;
  } else {
    OpenOptions o = input ? open_options_for(*input, config.resize) : OpenOptions{};
    if (!input) {
      const ImageSize size = parse_image_size(config.image_size, "config field 'image_size'");
      o.image.height = size.height;
      o.image.width = size.width;
      o.image.resize = parse_resize_policy(config.resize, "config field 'resize'");
    }
    o.image.cache_dir = image_cache_dir(config.db_path);
    p.source = open_dataset(ref.name, o);
  }
  p.dataset_key = dataset_key(p.source);
  if (ref.versioned()) {
    const std::string db = config.db_path.empty() ? ExperimentStore::default_path() : config.db_path;
    if (db == "-") throw InputError(config.data, "a dataset version needs the experiment store (not --db -)");
    ExperimentStore store(db);
    p.dataset_version = ref.latest ? store.latest_dataset_version(p.dataset_key) : ref.version;
    const VersionState state = version_state(store, p.dataset_key, p.dataset_version);
    auto ids = std::make_shared<SourceIdentities>(identify(p.source));
    p.source = apply_version(p.source, *ids, state);
    p.ids = std::move(ids);
  }
  SplitOptions so;
  so.seed = config.seed;
  if (config.valid_pct) {
    so.valid_pct = *config.valid_pct / 100.0;
    so.official_test = false;
  } else if (p.source.test) {
    so.official_test = true;
  } else {
    so.valid_pct = 0.2;
  }
  // Statistics from a capped subset: 10k samples pin the mean/std of
  // Fashion-MNIST to 3 decimals and keep the start fast.
  p.tv = prepare_train_valid(p.source, so, 10000);
  std::ostringstream note;
  if (so.official_test)
    note << "validating on the official test split (" << p.tv.valid_indices.size() << " images)";
  else
    note << "validating on " << so.valid_pct * 100 << "% of training (seed " << so.seed << ", "
         << p.tv.valid_indices.size() << " images)";
  p.split_note = note.str();
  if (p.tv.train_indices.empty()) throw InputError(config.data, "no training samples left after the split");
  if (p.tv.valid_indices.empty())
    throw InputError(config.data, "no validation samples (dataset too small for the split)");
  return p;
}

std::string model_spec_file(const nlohmann::json& model) {
  if (!model.is_string()) return "";
  std::string name = model.get<std::string>();
  auto builtins = Model::builtin_names();
  return std::find(builtins.begin(), builtins.end(), name) != builtins.end() ? "" : name;
}

nlohmann::json resolve_model_spec(const nlohmann::json& model, const Shape& input, int classes) {
  nlohmann::json spec;
  const std::string file = model_spec_file(model);
  const std::string where = file.empty() ? "model spec" : file;
  if (model.is_object()) {
    spec = model;
  } else if (model.is_string()) {
    std::string name = model.get<std::string>();
    auto builtins = Model::builtin_names();
    if (std::find(builtins.begin(), builtins.end(), name) != builtins.end())
      return Model::builtin_spec(name, input, classes);
    std::ifstream in(name);
    if (!in) {
      std::string known;
      for (auto& b : builtins) known += (known.empty() ? "" : ", ") + b;
      throw InputError(name, "not a built-in model (" + known + ") nor a readable spec file");
    }
    in.close();
    // Regular file, bounded size and nesting (hostile specs, FIFOs).
    spec = parse_json_bounded(read_regular_file(name, 64 << 20, "model spec file"), name);
  } else {
    throw InputError("model", "expected a built-in name, a spec file or a spec object");
  }
  if (!spec.is_object()) throw InputError(where, "expected a JSON object");
  // A spec without input/classes adopts the data's.
  if (!spec.contains("input")) spec["input"] = input.dims();
  if (!spec.contains("classes")) spec["classes"] = classes;
  if (spec["input"] != nlohmann::json(input.dims()))
    throw InputError(where, "input " + spec["input"].dump() + " does not match the data's " + input.str());
  if (spec["classes"] != nlohmann::json(classes))
    throw InputError(where,
                     "classes " + spec["classes"].dump() + " does not match the data's " + std::to_string(classes));
  return spec;
}

}  // namespace perceptra
