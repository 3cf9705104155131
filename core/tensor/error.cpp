#include "core/tensor/error.h"

namespace perceptra {

InputError::InputError(const std::string& where, const std::string& problem)
    : Error(where + ": " + problem), where_(where), problem_(problem) {}

void fail(const std::string& message) { throw Error(message); }

}  // namespace perceptra
