#include "core/curate/dataset_versions.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <unordered_map>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/data/curated_dataset.h"
#include "core/tensor/error.h"

namespace fs = std::filesystem;

namespace perceptra {

std::string dataset_key(const DataSource& source) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(source.location, ec), ec);
  return ec ? source.location : p.string();
}

DataRef parse_data_ref(const std::string& text) {
  DataRef r{text, 0, false};
  const auto at = text.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 >= text.size()) return r;
  const std::string tail = text.substr(at + 1);
  if (tail == "latest") {
    r = {text.substr(0, at), 0, true};
  } else if (tail.find_first_not_of("0123456789") == std::string::npos && tail.size() <= 12) {
    r = {text.substr(0, at), std::stoll(tail), false};
  }
  return r;
}

VersionState version_state(ExperimentStore& store, const std::string& key, int64_t version) {
  VersionState state;
  if (version == 0) return state;
  const auto all = store.dataset_versions(key, true);
  std::map<int64_t, const DatasetVersionRecord*> by_number;
  for (const auto& v : all) by_number[v.version] = &v;
  if (!by_number.count(version))
    throw InputError(key, "has no dataset version " + std::to_string(version) + " (latest is " +
                              std::to_string(all.empty() ? 0 : all.back().version) +
                              "; see `perceptra-cli data versions`)");
  // The chain from the files to `version`; parents are always older, so
  // the walk ends (a hostile parent pointing forward is refused).
  std::vector<const DatasetVersionRecord*> chain;
  for (int64_t v = version; v != 0;) {
    auto it = by_number.find(v);
    if (it == by_number.end() || (!chain.empty() && v >= chain.back()->version))
      throw InputError(key, "dataset version " + std::to_string(version) + " has a broken parent chain at version " +
                                std::to_string(v));
    chain.push_back(it->second);
    v = it->second->parent;
  }
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    for (const auto& c : (*it)->changes) {
      if (c.action == "restore") {
        state.erase(c.image);
        continue;
      }
      ImageOverride& o = state[c.image];
      o.content_hash = c.content_hash;
      // Relabelling an excluded image takes it back in with the new class;
      // excluding keeps the class it had (shown, not trained on).
      if (c.action == "exclude") o.excluded = true;
      if (c.action == "relabel") o.label = c.label, o.excluded = false;
    }
  return state;
}

namespace {

std::shared_ptr<const Dataset> view_of(const std::shared_ptr<const Dataset>& data,
                                       const std::vector<ImageIdentity>& ids, const VersionState& state,
                                       std::set<std::string>* found, std::vector<std::string>* warnings) {
  if (!data || state.empty()) return data;
  std::unordered_map<std::string, int64_t> where;
  where.reserve(ids.size() * 2);
  for (size_t i = 0; i < ids.size(); ++i) where.emplace(ids[i].image, int64_t(i));
  std::vector<int> labels = data->labels();
  bool changed = false;
  for (const auto& [image, o] : state) {
    auto it = where.find(image);
    if (it == where.end()) continue;  // an image of the other part (or gone: checked by the caller)
    found->insert(image);
    const ImageIdentity& id = ids[size_t(it->second)];
    if (!o.content_hash.empty() && o.content_hash != hash_hex(id.hash)) {
      warnings->push_back(image + ": changed on disk since it was " + (o.excluded ? "excluded" : "relabelled") +
                          "; the change is not applied");
      continue;
    }
    if (o.label >= 0) labels[size_t(it->second)] = o.label;
    if (o.excluded) labels[size_t(it->second)] = -1;
    changed = true;
  }
  if (!changed) return data;
  return std::make_shared<CuratedDataset>(data, std::move(labels));
}

}  // namespace

DataSource apply_version(const DataSource& source, const SourceIdentities& ids, const VersionState& state) {
  DataSource out = source;
  std::set<std::string> found;
  out.train = view_of(source.train, ids.train, state, &found, &out.warnings);
  out.test = view_of(source.test, ids.test, state, &found, &out.warnings);
  for (const auto& entry : state)
    if (!found.count(entry.first))
      out.warnings.push_back(entry.first + ": no longer in the dataset; its change is not applied");
  if (out.train && out.train->size() == 0)
    throw InputError(source.name, "this dataset version excludes every training image");
  return out;
}

int parse_class(const DataSource& source, const std::string& text) {
  const auto& names = source.class_names;
  for (size_t c = 0; c < names.size(); ++c)
    if (names[c] == text) return int(c);
  if (!text.empty() && text.size() < 6 && text.find_first_not_of("0123456789") == std::string::npos) {
    int c = std::stoi(text);
    if (c < int(names.size())) return c;
  }
  std::string list;
  for (size_t c = 0; c < names.size() && c < 20; ++c) list += (c ? ", " : "") + names[c];
  throw InputError(source.name, "no class '" + text + "' (classes: " + list + ")");
}

std::string current_user() {
  for (const char* v : {"USER", "LOGNAME"})
    if (const char* u = std::getenv(v); u && *u) return u;
  if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_name && *pw->pw_name) return pw->pw_name;
  return "unknown";
}

int64_t commit_changes(ExperimentStore& store, const DataSource& source, const SourceIdentities& ids,
                       const std::vector<ChangeRequest>& requests, const std::string& author,
                       const std::string& reason) {
  if (requests.empty()) throw InputError(source.name, "no images to change");
  const std::string key = dataset_key(source);
  const int64_t parent = store.latest_dataset_version(key);
  const VersionState state = version_state(store, key, parent);
  std::vector<ImageChange> changes;
  std::map<std::string, bool> seen;
  // One index for the whole batch (a batch may name thousands of images).
  std::unordered_map<std::string, ImageLocation> where;
  for (bool test : {false, true})
    for (size_t i = 0; i < ids.part(test).size(); ++i)
      where.emplace(ids.part(test)[i].image, ImageLocation{test, int64_t(i), &ids.part(test)[i]});
  for (const auto& r : requests) {
    auto found = where.find(r.image);
    const ImageLocation at = found != where.end() ? found->second : locate_image(source, ids, r.image);
    const std::string& image = at.identity->image;
    if (seen[image]) throw InputError(image, "named twice in one change");
    seen[image] = true;
    const auto& base = at.test_part ? source.test : source.train;
    const int original = uncurated(*base).label(at.index);
    auto cur = state.find(image);
    const bool excluded = cur != state.end() && cur->second.excluded;
    const int label = cur != state.end() && cur->second.label >= 0 ? cur->second.label : original;
    ImageChange c{image, hash_hex(at.identity->hash), r.action, -1};
    if (r.action == "relabel") {
      if (r.label < 0 || r.label >= int(source.class_names.size()))
        throw InputError(image, "class " + std::to_string(r.label) + " out of range");
      if (r.label == label && !excluded)
        throw InputError(image, "is already labelled '" + source.class_names[size_t(label)] + "' in version " +
                                    std::to_string(parent));
      c.label = r.label;
    } else if (r.action == "exclude") {
      if (excluded) throw InputError(image, "is already excluded in version " + std::to_string(parent));
    } else if (r.action == "restore") {
      if (cur == state.end())
        throw InputError(image, "is not relabelled or excluded in version " + std::to_string(parent));
    } else {
      throw InputError(image, "unknown change '" + r.action + "' (relabel, exclude or restore)");
    }
    changes.push_back(std::move(c));
  }
  return store.add_dataset_version(key, parent, changes, author, reason);
}

// ---- export ------------------------------------------------------------------

namespace {

std::string safe_name(const std::string& s) {
  std::string out;
  for (char ch : s) out += (ch == '/' || ch == '\\' || ch == '\0') ? '_' : ch;
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

void write_png(const Dataset& d, int64_t i, const fs::path& file) {
  const Shape s = d.sample_shape();
  const int c = int(s[0]), h = int(s[1]), w = int(s[2]);
  std::vector<float> px(size_t(s.numel()));
  d.image(i, px.data());
  cv::Mat m(h, w, c == 1 ? CV_8UC1 : CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c && k < 3; ++k) {
        const int src = c == 1 ? 0 : 2 - k;  // RGB planes -> OpenCV's BGR
        float v = px[size_t((src * h + y) * w + x)] * 255.0f + 0.5f;
        m.ptr<uint8_t>(y)[x * (c == 1 ? 1 : 3) + k] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
      }
  if (!cv::imwrite(file.string(), m)) throw InputError(file.string(), "cannot write image");
}

}  // namespace

int64_t export_version(const DataSource& source, const SourceIdentities& ids, const VersionState& state,
                       const std::string& out_dir) {
  std::error_code ec;
  fs::path out(out_dir);
  if (fs::exists(out, ec) && !(fs::is_directory(out, ec) && fs::is_empty(out, ec)))
    throw InputError(out_dir, "already exists and is not an empty folder; choose a new folder");
  const bool folder = source.format == "image-folder";
  const bool two_parts = source.test != nullptr;
  int64_t written = 0;
  for (bool test : {false, true}) {
    const auto& data = test ? source.test : source.train;
    if (!data) continue;
    const Dataset& base = uncurated(*data);
    const auto& part_ids = ids.part(test);
    fs::path root = two_parts ? out / (test ? "test" : "train") : out;
    for (int64_t i = 0; i < base.size(); ++i) {
      const ImageIdentity& id = part_ids.at(size_t(i));
      int label = base.label(i);
      if (auto it = state.find(id.image);
          it != state.end() && (it->second.content_hash.empty() || it->second.content_hash == hash_hex(id.hash))) {
        if (it->second.excluded) continue;
        if (it->second.label >= 0) label = it->second.label;
      }
      fs::path dir = root / safe_name(source.class_names.at(size_t(label)));
      fs::create_directories(dir, ec);
      if (ec) throw InputError(dir.string(), "cannot create folder: " + ec.message());
      if (folder) {
        const std::string from = image_file_path(source, test, i);
        fs::path to = dir / fs::path(from).filename();
        // Two classes may hold files of the same name; a relabelled one
        // must not overwrite its new neighbour.
        for (int k = 2; fs::exists(to, ec); ++k)
          to = dir / (fs::path(from).stem().string() + "-" + std::to_string(k) + fs::path(from).extension().string());
        fs::copy_file(from, to, ec);
        if (ec) throw InputError(from, "cannot copy to " + to.string() + ": " + ec.message());
      } else {
        write_png(base, i, dir / (safe_name(id.image) + ".png"));
      }
      ++written;
    }
  }
  return written;
}

}  // namespace perceptra
