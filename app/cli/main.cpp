// perceptra-cli: the engine headless. Dispatches to self-registered commands.
#include <algorithm>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <exception>
#include <string>

#include "app/cli/command.h"
#include "core/backend/cpu/cpu_omp_policy.h"

namespace perceptra::cli {
std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}
}  // namespace perceptra::cli

static void usage(FILE* out) {
  auto all = perceptra::cli::commands();
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::fprintf(out, "usage: perceptra-cli COMMAND [options]\n\ncommands:\n");
  for (auto& c : all) std::fprintf(out, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
  std::fprintf(out, "\n'perceptra-cli COMMAND --help' describes a command.\n");
}

int main(int argc, char** argv) {
  perceptra::apply_omp_wait_policy(argv);  // first: may re-execute the program
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(stdout);
    return 0;
  }
  for (auto& c : perceptra::cli::commands()) {
    if (c.name != name) continue;
    try {
      return c.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const std::bad_alloc&) {
      // Inputs are checked before they are allocated; what is left is a
      // model or dataset genuinely larger than this machine's memory.
      std::fprintf(stderr,
                   "perceptra-cli %s: error: out of memory (the model or data needs more memory "
                   "than is available)\n",
                   name.c_str());
      return 1;
    } catch (const std::length_error& e) {
      std::fprintf(stderr, "perceptra-cli %s: error: a size is too large (%s)\n", name.c_str(), e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "perceptra-cli %s: error: %s\n", name.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "perceptra-cli: unknown command '%s'\n\n", name.c_str());
  usage(stderr);
  return 2;
}
