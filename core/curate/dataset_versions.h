#pragma once
// Dataset versions: relabel, exclude and restore images without touching
// the user's files. Each change (or batch of changes) is a new version in
// the experiment store (store.h: DatasetVersionRecord) made from the latest
// one; a version's state is the changes of its ancestors applied in order.
// A run trains on a version through a curated view (core/data/
// curated_dataset.h) and records its number; `export_version` writes a
// cleaned copy to a new folder on request.
//
//   DATASET@3        version 3          DATASET@latest   the newest version
//   DATASET          version 0: the files as they are
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/curate/image_identity.h"
#include "core/data/resolve.h"
#include "core/store/store.h"

namespace perceptra {

// The dataset's key in the store: its resolved, absolute location.
std::string dataset_key(const DataSource& source);

// "name@3" -> {"name", 3}; "name@latest" -> {"name", latest = true};
// anything else (a path may contain '@') -> {text, version 0}.
struct DataRef {
  std::string name;
  int64_t version = 0;
  bool latest = false;
  bool versioned() const { return latest || version > 0; }
};
DataRef parse_data_ref(const std::string& text);

// What a version says about one image (absent: unchanged).
struct ImageOverride {
  int label = -1;  // relabelled to this class, -1 when not relabelled
  bool excluded = false;
  std::string content_hash;  // the image's content when the change was made
};
using VersionState = std::map<std::string, ImageOverride>;

// The state of `version` of the dataset (empty for 0). Throws InputError
// naming the dataset when the version does not exist.
VersionState version_state(ExperimentStore& store, const std::string& key, int64_t version);

// The source with the version applied to its train and test sets (curated
// views; the files are not touched). Overrides whose image is gone or whose
// content changed since are skipped with a warning in source.warnings.
DataSource apply_version(const DataSource& source, const SourceIdentities& ids, const VersionState& state);

// One requested change: action relabel (to class `label`), exclude or restore.
struct ChangeRequest {
  std::string image;
  std::string action;
  int label = -1;
};
// Class argument -> index: a class name or a number. InputError otherwise.
int parse_class(const DataSource& source, const std::string& text);

// Checks every request against the data and the latest version and writes
// them as one new version (one transaction). Returns its number. Throws
// InputError for an unknown image/class or a change that changes nothing.
int64_t commit_changes(ExperimentStore& store, const DataSource& source, const SourceIdentities& ids,
                       const std::vector<ChangeRequest>& requests, const std::string& author,
                       const std::string& reason);

// The user's name for who/when/why ($USER, $LOGNAME, the account's name).
std::string current_user();

// Writes the version as a new image folder `out` (which must not exist or
// be empty): <class>/<file> (train/ and test/ parts when the data has a
// test split); folder images are copied byte for byte, IDX/CIFAR samples
// written as PNG. Relabelled images go to their new class, excluded ones
// are left out. Returns the number of images written.
int64_t export_version(const DataSource& source, const SourceIdentities& ids, const VersionState& state,
                       const std::string& out);

}  // namespace perceptra
