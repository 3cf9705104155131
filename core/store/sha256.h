#pragma once
// SHA-256 (FIPS 180-4) for artifact checksums; small and dependency-free.
#include <cstddef>
#include <string>

namespace perceptra {

// Lowercase hex SHA-256 of a file's bytes; throws StoreError naming the file.
std::string sha256_file(const std::string& path);
std::string sha256_hex(const void* data, size_t size);

}  // namespace perceptra
