#pragma once
// Machine metadata recorded with each run so results can be compared across
// machines.
#include <string>

#include <nlohmann/json.hpp>

namespace perceptra {

// Machine metadata for NewRun::machine: cpu model, core count, os, host,
// versions (perceptra, compiler, sqlite). gpu: a description from the
// backend, or "none".
nlohmann::json machine_metadata(const std::string& gpu = "none");

}  // namespace perceptra
