#pragma once
// Small option parser shared by the CLI commands: "--name VALUE",
// "--name=VALUE" and flags; anything else is positional. Errors are usage
// errors (exit code 2).
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace perceptra::cli {

class UsageError : public std::runtime_error {
 public:
  explicit UsageError(const std::string& what) : std::runtime_error(what) {}
};

struct OptionSpec {
  std::string name;     // without dashes
  bool value = true;    // takes a value (else a flag)
  bool repeat = false;  // may appear several times
};

class Args {
 public:
  // Throws UsageError for unknown options or a missing value.
  Args(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs);
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  bool flag(const std::string& name) const { return has(name); }
  std::optional<std::string> get(const std::string& name) const;
  std::vector<std::string> all(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& dflt) const;
  // Typed values; UsageError naming the option on a malformed number.
  std::optional<long long> get_int(const std::string& name) const;
  std::optional<double> get_double(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

bool wants_help(const std::vector<std::string>& args);

// The experiment database a command reads: --db, else $PERCEPTRA_DB, else
// the default file. '-' (from either) means none, so a command that needs
// one gets a UsageError instead of a database file named '-'.
std::string required_database(const Args& args);

// Runs body, mapping UsageError to exit 2 (message + hint) for `command`.
int run_command(const char* command, const char* usage_text, const std::vector<std::string>& args,
                int (*body)(const std::vector<std::string>&));

}  // namespace perceptra::cli
