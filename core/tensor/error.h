#pragma once
// Engine errors. Every message names what was wrong and where (file, layer,
// field) so the GUI and CLI can show it to the user verbatim.
#include <stdexcept>
#include <string>

namespace perceptra {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Thrown for bad user input (datasets, specs, files): "<where>: <problem>".
class InputError : public Error {
 public:
  InputError(const std::string& where, const std::string& problem);
  const std::string& where() const { return where_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string where_, problem_;
};

[[noreturn]] void fail(const std::string& message);

}  // namespace perceptra

// Internal invariant check; the message should say what the caller got wrong.
#define PCHECK(cond, msg)                             \
  do {                                                \
    if (!(cond)) ::perceptra::fail(std::string(msg)); \
  } while (0)
