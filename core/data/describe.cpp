#include "core/data/describe.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/data/resolve.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {
std::vector<int64_t> counts(const Dataset& d) {
  std::vector<int64_t> c(size_t(d.num_classes()), 0);
  for (int64_t i = 0; i < d.size(); ++i) ++c.at(size_t(d.label(i)));
  return c;
}
}  // namespace

DatasetInfo describe(const DataSource& src, int64_t max_stat_samples) {
  PCHECK(src.train != nullptr, "describe: data source has no training set");
  DatasetInfo info;
  info.name = src.name;
  info.format = src.format;
  info.source = src.location;
  info.classes = src.train->class_names();
  info.shape = src.train->sample_shape().dims();
  info.resize = src.resize;
  info.size_note = src.size_note;
  info.train_size = src.train->size();
  info.train_counts = counts(*src.train);
  if (src.test) {
    info.has_test = true;
    info.test_size = src.test->size();
    info.test_counts = counts(*src.test);
  }
  const bool on_demand = src.train->size() > 0 && src.train->pixels_u8(0) == nullptr;
  if (on_demand)  // photos: a bounded sample, not a decode of the whole folder
    max_stat_samples = max_stat_samples > 0 ? std::min(max_stat_samples, kOnDemandStatSamples) : kOnDemandStatSamples;
  else if (max_stat_samples < 0)
    max_stat_samples = 0;
  info.stats = compute_norm_stats(*src.train, {}, max_stat_samples);
  info.stats_samples =
      (max_stat_samples > 0 && max_stat_samples < info.train_size) ? max_stat_samples : info.train_size;
  info.skipped_files = src.skipped_files;
  info.warnings = src.warnings;
  return info;
}

nlohmann::json DatasetInfo::to_json() const {
  nlohmann::json j = {{"name", name},
                      {"format", format},
                      {"source", source},
                      {"classes", classes},
                      {"shape", shape},
                      {"resize", resize},
                      {"size_note", size_note},
                      {"train_size", train_size},
                      {"train_counts", train_counts},
                      {"has_test", has_test},
                      {"mean", stats.mean},
                      {"std", stats.std},
                      {"stats_samples", stats_samples},
                      {"skipped_files", skipped_files},
                      {"warnings", warnings}};
  if (has_test) {
    j["test_size"] = test_size;
    j["test_counts"] = test_counts;
  }
  return j;
}

DatasetInfo DatasetInfo::from_json(const nlohmann::json& j) {
  DatasetInfo d;
  try {
    d.name = j.at("name").get<std::string>();
    d.format = j.value("format", std::string());
    d.source = j.value("source", std::string());
    d.classes = j.at("classes").get<std::vector<std::string>>();
    d.shape = j.at("shape").get<std::vector<int64_t>>();
    d.resize = j.value("resize", std::string());
    d.size_note = j.value("size_note", std::string());
    d.train_size = j.at("train_size").get<int64_t>();
    d.train_counts = j.value("train_counts", std::vector<int64_t>{});
    d.has_test = j.value("has_test", false);
    d.test_size = j.value("test_size", int64_t(0));
    d.test_counts = j.value("test_counts", std::vector<int64_t>{});
    d.stats.mean = j.value("mean", std::vector<float>{});
    d.stats.std = j.value("std", std::vector<float>{});
    d.stats_samples = j.value("stats_samples", int64_t(0));
    d.skipped_files = j.value("skipped_files", int64_t(0));
    d.warnings = j.value("warnings", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    throw InputError("dataset description", std::string("malformed: ") + e.what());
  }
  return d;
}

std::string DatasetInfo::to_text() const {
  std::string s;
  char buf[512];
  auto line = [&](const char* k, const std::string& v) {
    std::snprintf(buf, sizeof buf, "%-12s %s\n", k, v.c_str());
    s += buf;
  };
  std::string shp;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) shp += "x";
    shp += std::to_string(shape[i]);
  }
  line("dataset", name);
  line("format", format);
  line("source", source);
  line("image", shp + " (CxHxW)");
  if (!resize.empty()) line("resize", resize + ", " + size_note);
  line("train", std::to_string(train_size) + " images");
  line("test", has_test ? std::to_string(test_size) + " images" : std::string("none (split from train)"));
  std::string ms;
  for (size_t c = 0; c < stats.mean.size(); ++c) {
    std::snprintf(buf, sizeof buf, "%s%.4f/%.4f", c ? ", " : "", stats.mean[c], stats.std[c]);
    ms += buf;
  }
  line("mean/std", ms + " (train, " + std::to_string(stats_samples) + " images)");
  if (skipped_files) line("skipped", std::to_string(skipped_files) + " files");
  size_t w = 5;
  for (const auto& c : classes) w = std::max(w, c.size());
  std::snprintf(buf, sizeof buf, "\n  %3s  %-*s %8s %8s\n", "#", int(w), "class", "train", has_test ? "test" : "");
  s += buf;
  for (size_t c = 0; c < classes.size(); ++c) {
    std::string t = has_test && c < test_counts.size() ? std::to_string(test_counts[c]) : "";
    std::snprintf(buf, sizeof buf, "  %3zu  %-*s %8lld %8s\n", c, int(w), classes[c].c_str(),
                  (long long)(c < train_counts.size() ? train_counts[c] : 0), t.c_str());
    s += buf;
  }
  for (const auto& wline : warnings) s += "warning: " + wline + "\n";
  return s;
}

}  // namespace perceptra
