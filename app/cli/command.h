#pragma once
// perceptra-cli subcommands register themselves (one file per command), so
// commands are added without editing a central table.
#include <string>
#include <vector>

namespace perceptra::cli {

struct Command {
  std::string name;
  std::string summary;  // one line for `perceptra-cli --help`
  // args excludes the program and command names. Returns the exit code:
  // 0 ok, 1 runtime failure (bad data, diverged...), 2 usage error.
  int (*run)(const std::vector<std::string>& args);
};

std::vector<Command>& commands();

struct Registrar {
  explicit Registrar(Command c) { commands().push_back(std::move(c)); }
};

}  // namespace perceptra::cli
