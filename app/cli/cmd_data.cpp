// perceptra-cli data info NAME|PATH [--json] [--channels N] [--image-size N|HxW] [--resize P]
// perceptra-cli data list [--json]
// Opens a dataset with the same resolver as every other command and prints
// its description. Bad data: exit 1 with "<file>: <problem>" on stderr.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "app/cli/cmd_curate.h"
#include "app/cli/command.h"
#include "core/tensor/bounded_json.h"
#include "core/data/describe.h"
#include "core/data/image_size.h"
#include "core/data/resolve.h"
#include "core/tensor/error.h"

namespace {

void usage(FILE* out) {
  std::fprintf(out,
               "usage: perceptra-cli data info NAME|PATH [--json] [--channels 1|3]\n"
               "                               [--image-size N|HxW] [--resize crop|squish|pad]\n"
               "       perceptra-cli data list [--json]\n\n"
               "NAME is fashion-mnist, mnist, cifar10 or sample; PATH an IDX folder or images\n"
               "file, a CIFAR-10 folder, or an image folder (one sub-folder per class).\n"
               "Image folders are decoded to --image-size (default: the native size when all\n"
               "images are small and equal, else 224x224) with the --resize policy (default crop).\n\n");
  std::fputs(perceptra::cli::curate_usage(), out);
}

int list(bool json) {
  auto known = perceptra::known_datasets();
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (auto& k : known)
      j.push_back({{"name", k.name},
                   {"description", k.description},
                   {"location", k.location},
                   {"available", !k.location.empty()},
                   {"hint", k.hint}});
    std::printf("%s\n", perceptra::dump_json_safe(j, 2).c_str());
    return 0;
  }
  for (auto& k : known)
    std::printf("%-14s %-10s %s\n%14s %s\n", k.name.c_str(), k.location.empty() ? "missing" : "available",
                k.description.c_str(), "", k.location.empty() ? k.hint.c_str() : k.location.c_str());
  return 0;
}

int run(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    usage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (perceptra::cli::is_curate_command(args[0])) return perceptra::cli::run_curate_command(args);
  bool json = false;
  std::string target;
  perceptra::OpenOptions opt;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      json = true;
    } else if (a == "--channels" && i + 1 < args.size()) {
      const std::string& v = args[++i];
      if (v != "1" && v != "3") {
        std::fprintf(stderr, "perceptra-cli data: --channels must be 1 or 3, got '%s'\n", v.c_str());
        return 2;
      }
      opt.image.channels = std::stoi(v);
    } else if ((a == "--image-size" || a == "--size") && i + 1 < args.size()) {
      try {
        perceptra::ImageSize size = perceptra::parse_image_size(args[++i], "--image-size");
        opt.image.height = size.height;
        opt.image.width = size.width;
      } catch (const perceptra::InputError& e) {
        std::fprintf(stderr, "perceptra-cli data: %s\n", e.what());
        return 2;
      }
    } else if (a == "--resize" && i + 1 < args.size()) {
      try {
        opt.image.resize = perceptra::parse_resize_policy(args[++i], "--resize");
      } catch (const perceptra::InputError& e) {
        std::fprintf(stderr, "perceptra-cli data: %s\n", e.what());
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "perceptra-cli data: unknown option '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    } else if (target.empty()) {
      target = a;
    } else {
      std::fprintf(stderr, "perceptra-cli data: unexpected argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (args[0] == "list") return list(json);
  if (args[0] != "info" || target.empty()) {
    usage(stderr);
    return 2;
  }
  try {
    perceptra::DataSource src = perceptra::open_dataset(target, opt);
    perceptra::DatasetInfo info = perceptra::describe(src);
    if (json)
      std::printf("%s\n", perceptra::dump_json_safe(info.to_json(), 2).c_str());
    else
      std::printf("%s", info.to_text().c_str());
    // Skipped files are warnings, not failures (the table lists them too).
    if (json)
      for (const auto& w : src.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    return 0;
  } catch (const perceptra::InputError& e) {
    std::fprintf(stderr, "perceptra-cli data: %s\n", e.what());
    return 1;
  }
}

perceptra::cli::Registrar reg{
    {"data", "describe and fix a dataset (info, list, suspects, duplicates, relabel, ...)", &run}};

}  // namespace
