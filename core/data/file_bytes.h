#pragma once
// Whole-file reads for the binary dataset formats, with transparent gzip
// decompression (detected by the 1f 8b magic, not the file name).
#include <cstdint>
#include <string>
#include <vector>

namespace perceptra::data {

// Throws InputError("<path>", "...") when the file is missing, unreadable,
// or a gzip stream that is corrupt or truncated.
std::vector<uint8_t> read_file_bytes(const std::string& path);

bool is_gzip(const std::vector<uint8_t>& bytes);
// Decompresses a complete gzip stream; `path` is only used in messages.
std::vector<uint8_t> gunzip(const std::vector<uint8_t>& compressed, const std::string& path);

}  // namespace perceptra::data
