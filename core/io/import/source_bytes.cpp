#include "core/io/import/source_bytes.h"

#include <fstream>

#include "core/io/import/state_dict.h"

namespace perceptra::import {

std::string read_file_bytes(const std::string& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw InputError(path, "cannot be opened for reading");
  const std::streamoff size = in.tellg();
  if (size < 0) throw InputError(path, "cannot be read (not a regular file?)");
  if (uint64_t(size) > max_bytes)
    throw InputError(path, "is " + std::to_string(size) + " bytes, larger than the " + std::to_string(max_bytes) +
                               "-byte limit for imports");
  std::string bytes(size_t(size), '\0');
  in.seekg(0);
  if (size && !in.read(bytes.data(), size)) throw InputError(path, "could not be read completely");
  return bytes;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace perceptra::import
