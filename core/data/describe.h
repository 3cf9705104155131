#pragma once
// A dataset's description for the CLI (`data info`), the GUI and the
// experiment store: name, source, classes, counts per class, image shape,
// per-channel mean/std of the training set.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/data/normalize.h"

namespace perceptra {

struct DataSource;

struct DatasetInfo {
  std::string name, format, source;
  std::vector<std::string> classes;
  std::vector<int64_t> shape;  // [C,H,W]
  std::string resize;          // image folders: squish | crop | pad ("" otherwise)
  std::string size_note;       // image folders: how the size was chosen
  int64_t train_size = 0;
  std::vector<int64_t> train_counts;  // per class
  bool has_test = false;
  int64_t test_size = 0;
  std::vector<int64_t> test_counts;
  NormStats stats;            // of the training set
  int64_t stats_samples = 0;  // how many training samples the stats used
  int64_t skipped_files = 0;
  std::vector<std::string> warnings;

  nlohmann::json to_json() const;
  static DatasetInfo from_json(const nlohmann::json& j);  // throws InputError
  std::string to_text() const;                            // human-readable table
};

// max_stat_samples > 0 caps the (evenly spaced) samples the stats read;
// 0 or -1 (default) reads all of in-memory data; a decoded-on-demand image
// folder reads at most kOnDemandStatSamples images in any case.
DatasetInfo describe(const DataSource& source, int64_t max_stat_samples = -1);

}  // namespace perceptra
