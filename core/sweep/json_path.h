#pragma once
// Dotted paths into a JSON object ("optimizer.lr"): how a sweep names the
// TrainConfig field it varies.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace perceptra {

// The value at `path`, if every component exists (objects only).
std::optional<nlohmann::json> json_path_get(const nlohmann::json& j, const std::string& path);
// Sets the value at `path`, creating missing intermediate objects; throws
// InputError when a component on the way is not an object.
void json_path_set(nlohmann::json& j, const std::string& path, const nlohmann::json& value);

}  // namespace perceptra
