#pragma once
// The curation sub-commands of `perceptra-cli data` (cmd_curate.cpp).
#include <string>
#include <vector>

namespace perceptra::cli {
bool is_curate_command(const std::string& sub);
// args starts with the sub-command name.
int run_curate_command(const std::vector<std::string>& args);
const char* curate_usage();
}  // namespace perceptra::cli
