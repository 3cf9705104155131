#include "app/cli/args.h"

#include <cstdio>

#include "core/store/store.h"
#include "core/tensor/error.h"

namespace perceptra::cli {

Args::Args(const std::vector<std::string>& args, const std::vector<OptionSpec>& specs) {
  auto find = [&](const std::string& n) -> const OptionSpec* {
    for (auto& s : specs)
      if (s.name == n) return &s;
    return nullptr;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      std::string name = a.substr(2), value;
      bool inline_value = false;
      auto eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      const OptionSpec* s = find(name);
      if (!s) throw UsageError("unknown option '--" + name + "'");
      if (s->value) {
        if (!inline_value) {
          if (i + 1 >= args.size()) throw UsageError("option '--" + name + "' needs a value");
          value = args[++i];
        }
      } else if (inline_value) {
        throw UsageError("option '--" + name + "' takes no value");
      }
      if (!s->repeat && values_.count(name)) throw UsageError("option '--" + name + "' given twice");
      values_[name].push_back(value);
    } else if (a == "-h") {
      values_["help"].push_back("");
    } else {
      positional_.push_back(a);
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::get_or(const std::string& name, const std::string& dflt) const {
  auto v = get(name);
  return v ? *v : dflt;
}

std::optional<long long> Args::get_int(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  try {
    size_t used = 0;
    long long x = std::stoll(*v, &used);
    if (used != v->size()) throw std::invalid_argument(*v);
    return x;
  } catch (const std::exception&) {
    throw UsageError("option '--" + name + "' needs an integer, got '" + *v + "'");
  }
}

std::optional<double> Args::get_double(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  try {
    size_t used = 0;
    double x = std::stod(*v, &used);
    if (used != v->size()) throw std::invalid_argument(*v);
    return x;
  } catch (const std::exception&) {
    throw UsageError("option '--" + name + "' needs a number, got '" + *v + "'");
  }
}

bool wants_help(const std::vector<std::string>& args) {
  for (auto& a : args)
    if (a == "--help" || a == "-h") return true;
  return false;
}

int run_command(const char* command, const char* usage_text, const std::vector<std::string>& args,
                int (*body)(const std::vector<std::string>&)) {
  if (wants_help(args)) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  try {
    return body(args);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "perceptra-cli %s: %s\n(see 'perceptra-cli %s --help')\n", command, e.what(), command);
    return 2;
  }
}

std::string required_database(const Args& args) {
  std::string db = args.get_or("db", ExperimentStore::default_path());
  if (db == "-")
    throw UsageError(std::string("no experiment database: ") + (args.has("db") ? "--db" : "$PERCEPTRA_DB") +
                     " is '-' (none); pass --db FILE");
  return db;
}

}  // namespace perceptra::cli
