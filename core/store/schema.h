#pragma once
// Internal: the SQL of each schema migration (see schema.cpp).
#include <vector>

namespace perceptra::store_schema {
// migrations()[i] upgrades a database from version i to version i + 1.
const std::vector<const char*>& migrations();
}  // namespace perceptra::store_schema
