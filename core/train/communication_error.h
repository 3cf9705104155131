#pragma once
// A collective operation between the processes of a data-parallel run
// failed or timed out (another rank died or hangs). The run cannot go on in
// this process but nothing is broken: the Trainer leaves it interrupted
// (resumable) rather than failed. Thrown by core/dist's communicators.
#include <string>

#include "core/tensor/error.h"

namespace perceptra {

class CommunicationError : public Error {
 public:
  explicit CommunicationError(const std::string& what) : Error(what) {}
};

}  // namespace perceptra
