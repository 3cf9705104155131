#include "core/data/resolve.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "core/data/cifar.h"
#include "core/data/class_names.h"
#include "core/data/idx.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}
bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

fs::path exe_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

// Folders searched for a named dataset, most specific first.
std::vector<fs::path> dataset_roots() {
  std::vector<fs::path> roots;
  if (const char* d = std::getenv("PERCEPTRA_DATASETS")) roots.push_back(fs::path(d));
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x)
    roots.push_back(fs::path(x) / "perceptra" / "datasets");
  else if (const char* h = std::getenv("HOME"))
    roots.push_back(fs::path(h) / ".local" / "share" / "perceptra" / "datasets");
  roots.push_back("/usr/share/datasets");
  return roots;
}

// ---- IDX -----------------------------------------------------------------

struct IdxPair {
  std::string images, labels;
};

// train-images-idx3-ubyte[.gz] -> train-labels-idx1-ubyte[.gz] (also the
// "train-images.idx3-ubyte" spelling); empty when no partner exists.
std::string idx_labels_for(const fs::path& images) {
  std::string name = images.filename().string();
  std::string l = name;
  auto swap = [&](const std::string& a, const std::string& b) {
    auto p = l.find(a);
    if (p != std::string::npos) l.replace(p, a.size(), b);
  };
  swap("images", "labels");
  swap("idx3", "idx1");
  if (l == name) return {};
  std::vector<std::string> candidates = {l};
  if (l.size() > 3 && l.substr(l.size() - 3) == ".gz")
    candidates.push_back(l.substr(0, l.size() - 3));
  else
    candidates.push_back(l + ".gz");
  for (const auto& c : candidates)
    if (is_file(images.parent_path() / fs::path(c))) return (images.parent_path() / fs::path(c)).string();
  return {};
}

bool is_idx_images_name(const std::string& name) {
  std::string n = lower(name);
  return contains(n, "images") && contains(n, "idx3");
}

IdxOptions idx_options_for(const fs::path& dir, const std::string& hint_name) {
  IdxOptions o;
  std::string where = lower(hint_name + " " + dir.string());
  if (is_file(dir / "classes.txt"))
    o.class_names = read_class_names_file((dir / "classes.txt").string());
  else if (contains(where, "fashion"))
    o.class_names = fashion_mnist_class_names();
  else if (contains(where, "emnist"))
    ;  // many EMNIST splits; numbered classes
  else if (contains(where, "mnist"))
    o.class_names = numbered_class_names(10);
  o.transpose = contains(where, "emnist");
  return o;
}

bool open_idx_dir(const fs::path& dir, const std::string& hint, bool test_only, DataSource* src) {
  std::string train, test;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && is_idx_images_name(e.path().filename().string())) files.push_back(e.path());
  if (files.empty()) return false;
  std::sort(files.begin(), files.end());
  // Sorted, so a plain file comes before its .gz twin; first of each role wins.
  for (const auto& f : files) {
    std::string n = lower(f.filename().string());
    bool is_test = contains(n, "t10k") || contains(n, "test");
    std::string& slot = is_test ? test : train;
    if (slot.empty()) slot = f.string();
  }
  if (train.empty()) throw InputError(dir.string(), "IDX folder has a test images file but no training images file");
  IdxOptions opt = idx_options_for(dir, hint);
  if (test_only && !test.empty()) {
    std::string test_labels = idx_labels_for(fs::path(test));
    if (!test_labels.empty()) {
      src->format = "idx";
      src->location = dir.string();
      src->test = load_idx(test, test_labels, opt);
      return true;
    }
  }
  std::string train_labels = idx_labels_for(fs::path(train));
  if (train_labels.empty())
    throw InputError(train, "no matching labels file (expected e.g. train-labels-idx1-ubyte.gz next to it)");
  src->format = "idx";
  src->location = dir.string();
  src->train = load_idx(train, train_labels, opt);
  if (!test.empty()) {
    std::string test_labels = idx_labels_for(fs::path(test));
    if (test_labels.empty())
      throw InputError(test, "no matching labels file (expected e.g. t10k-labels-idx1-ubyte.gz next to it)");
    if (opt.class_names.empty()) opt.class_names = src->train->class_names();
    src->test = load_idx(test, test_labels, opt);
  }
  return true;
}

// ---- CIFAR-10 --------------------------------------------------------------

bool open_cifar_dir(const fs::path& dir, bool test_only, DataSource* src) {
  CifarLayout l;
  if (!find_cifar_layout(dir.string(), &l)) return false;
  std::vector<std::string> names;
  if (!l.meta_file.empty()) names = read_class_names_file(l.meta_file);
  src->format = "cifar10";
  src->location = l.dir;
  if (l.train_files.empty()) throw InputError(l.dir, "CIFAR-10 folder has test_batch.bin but no data_batch_*.bin");
  if (!test_only || l.test_file.empty()) src->train = load_cifar10(l.train_files, names, l.dir);
  if (!l.test_file.empty()) src->test = load_cifar10({l.test_file}, names, l.test_file);
  return true;
}

// ---- image folders ---------------------------------------------------------

void add_report(const ImageFolderReport& r, DataSource* src) {
  src->warnings.insert(src->warnings.end(), r.warnings.begin(), r.warnings.end());
  src->skipped_files += r.skipped_non_image + r.skipped_unreadable;
  src->resize = resize_policy_name(r.resize);
  if (src->size_note.empty()) src->size_note = r.size_note;
}

void open_image_folder(const fs::path& dir, const OpenOptions& opt, DataSource* src) {
  src->format = "image-folder";
  src->location = dir.string();
  // train/ + test/ (or valid/, val/) holding class folders: an official split.
  std::vector<std::string> subs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (!n.empty() && n[0] != '.' && e.is_directory(ec)) subs.push_back(n);
  }
  std::sort(subs.begin(), subs.end());
  std::string test_name;
  for (const char* t : {"test", "valid", "val"})
    if (std::find(subs.begin(), subs.end(), t) != subs.end()) test_name = t;
  const bool split_layout =
      subs.size() == 2 && std::find(subs.begin(), subs.end(), "train") != subs.end() && !test_name.empty();
  ImageFolderReport report;
  if (!split_layout) {
    src->train = load_image_folder(dir.string(), opt.image, &report);
    add_report(report, src);
    return;
  }
  // One memory budget for both parts.
  ImageFolderOptions shared = opt.image;
  if (!shared.shared_budget) shared.shared_budget = std::make_shared<CacheBudget>(shared.memory_budget_bytes);
  src->train = load_image_folder((dir / "train").string(), shared, &report);
  add_report(report, src);
  // The test set takes the training set's channels, size and policy.
  ImageFolderOptions t = shared;
  Shape s = src->train->sample_shape();
  t.channels = int(s[0]);
  t.height = int(s[1]);
  t.width = int(s[2]);
  ImageFolderReport test_report;
  src->test = load_image_folder((dir / test_name).string(), t, &test_report);
  add_report(test_report, src);
  if (src->test->class_names() != src->train->class_names())
    throw InputError((dir / test_name).string(), "class folders differ from those in " + (dir / "train").string() +
                                                     " (both need the same class sub-folders)");
}

DataSource open_path(const std::string& given, const fs::path& p, const OpenOptions& opt, const std::string& hint) {
  DataSource src;
  src.name = given;
  std::error_code ec;
  if (!fs::exists(p, ec)) throw InputError(given, "no such file or folder");
  if (is_file(p)) {
    std::string n = p.filename().string();
    std::string ln = lower(n);
    if (contains(ln, "idx")) {
      std::string images = p.string(), labels;
      if (is_idx_images_name(n)) {
        labels = idx_labels_for(p);
        if (labels.empty()) throw InputError(images, "no matching labels file next to it (…labels-idx1-ubyte)");
      } else {
        throw InputError(p.string(), "pass the images file (…images-idx3-ubyte) or its folder");
      }
      src.format = "idx";
      src.location = images;
      src.train = load_idx(images, labels, idx_options_for(p.parent_path(), hint));
    } else if (p.extension() == ".bin") {
      std::vector<std::string> names;
      if (is_file(p.parent_path() / "batches.meta.txt"))
        names = read_class_names_file((p.parent_path() / "batches.meta.txt").string());
      src.format = "cifar10";
      src.location = p.string();
      src.train = load_cifar10({p.string()}, names, p.string());
    } else {
      throw InputError(p.string(),
                       "not a dataset: expected an IDX images file, a CIFAR-10 "
                       ".bin batch, or a folder");
    }
  } else if (!open_idx_dir(p, hint, opt.test_split_only, &src) && !open_cifar_dir(p, opt.test_split_only, &src)) {
    open_image_folder(p, opt, &src);
  }
  src.class_names = (src.train ? src.train : src.test)->class_names();
  return src;
}

struct Named {
  const char* name;
  const char* description;
  std::vector<const char*> folders;  // candidate folder names under each root
  const char* hint;
};

const std::vector<Named>& named() {
  static const std::vector<Named> n = {
      {"fashion-mnist",
       "Fashion-MNIST: 70,000 28x28 grayscale clothing images, 10 classes",
       {"fashion-mnist", "fashion_mnist", "FashionMNIST"},
       "install Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist)"},
      {"mnist",
       "MNIST: 70,000 28x28 grayscale handwritten digits, 10 classes",
       {"mnist", "MNIST"},
       "put the four IDX files in ~/.local/share/perceptra/datasets/mnist"},
      {"cifar10",
       "CIFAR-10: 60,000 32x32 colour images, 10 classes",
       {"cifar-10", "cifar10", "cifar-10-batches-bin"},
       "put the binary batches in ~/.local/share/perceptra/datasets/cifar-10"},
  };
  return n;
}

std::string find_named(const Named& n) {
  for (const auto& root : dataset_roots())
    for (const char* f : n.folders)
      if (is_dir(root / f)) return (root / f).string();
  return {};
}

}  // namespace

std::string sample_data_dir() {
  std::vector<fs::path> candidates;
  if (const char* e = std::getenv("PERCEPTRA_SAMPLE_DATA"); e && *e) candidates.push_back(fs::path(e));
  fs::path exe = exe_dir();
  if (!exe.empty()) candidates.push_back(exe / ".." / "share" / "perceptra" / "sample-data");
  candidates.push_back(PERCEPTRA_SAMPLE_DATA_SOURCE);
  candidates.push_back(PERCEPTRA_SAMPLE_DATA_INSTALLED);
  for (const auto& c : candidates)
    if (is_dir(c / "shapes")) return fs::weakly_canonical(c / "shapes").string();
  return {};
}

std::vector<KnownDataset> known_datasets() {
  std::vector<KnownDataset> out;
  for (const auto& n : named()) out.push_back({n.name, n.description, find_named(n), n.hint});
  out.push_back({"sample", "Bundled sample: 28x28 grayscale drawn shapes, 6 classes", sample_data_dir(),
                 "regenerate with scripts/make-sample-data"});
  return out;
}

DataSource open_dataset(const std::string& name_or_path, const OpenOptions& options) {
  if (name_or_path.empty()) throw InputError("dataset", "no dataset name or path given");
  std::string key = lower(name_or_path);
  if (key == "cifar-10") key = "cifar10";
  if (key == "fashion_mnist" || key == "fashionmnist") key = "fashion-mnist";
  for (const auto& n : named()) {
    if (key != n.name) continue;
    std::string dir = find_named(n);
    if (dir.empty()) {
      std::string searched;
      for (const auto& r : dataset_roots()) searched += (searched.empty() ? "" : ", ") + (r / n.folders[0]).string();
      throw InputError(n.name, std::string("not installed (looked in ") + searched + "); " + n.hint);
    }
    DataSource s = open_path(dir, fs::path(dir), options, n.name);
    s.name = n.name;
    return s;
  }
  if (key == "sample") {
    std::string dir = sample_data_dir();
    if (dir.empty())
      throw InputError("sample",
                       "bundled sample data not found (set PERCEPTRA_SAMPLE_DATA to the "
                       "sample-data folder)");
    DataSource s = open_path(dir, fs::path(dir), options, "sample");
    s.name = "sample";
    return s;
  }
  std::error_code ec;
  if (!fs::exists(fs::path(name_or_path), ec)) {
    if (name_or_path.find('/') != std::string::npos) throw InputError(name_or_path, "no such file or folder");
    std::string names;
    for (const auto& n : named()) names += std::string(n.name) + ", ";
    throw InputError(name_or_path, "no such file or folder, and not a dataset name (" + names + "sample)");
  }
  return open_path(name_or_path, fs::path(name_or_path), options, "");
}

}  // namespace perceptra
