#pragma once
// Reading config objects field by field so every error names the field
// (internal to core/optim).
#include <cstdint>
#include <initializer_list>
#include <string>

#include <nlohmann/json.hpp>

namespace perceptra::optim_json {

// Throws InputError(where, "expected a JSON object ...") unless j is an object.
void require_object(const nlohmann::json& j, const std::string& where);
// Throws InputError naming the first key of j not in known.
void reject_unknown(const nlohmann::json& j, std::initializer_list<const char*> known, const std::string& where);
// Each reads j[key] into out when the key is present (else leaves out as is)
// and throws InputError(where, "field 'key' must be ...") on a wrong type.
void read(const nlohmann::json& j, const char* key, const std::string& where, float& out);
void read(const nlohmann::json& j, const char* key, const std::string& where, double& out);
void read(const nlohmann::json& j, const char* key, const std::string& where, int64_t& out);
void read(const nlohmann::json& j, const char* key, const std::string& where, int& out);
void read(const nlohmann::json& j, const char* key, const std::string& where, bool& out);
void read(const nlohmann::json& j, const char* key, const std::string& where, std::string& out);

// "field 'key' must be <requirement>, got <value>" as an InputError.
[[noreturn]] void bad_field(const std::string& where, const char* key, const std::string& requirement, double got);

}  // namespace perceptra::optim_json
