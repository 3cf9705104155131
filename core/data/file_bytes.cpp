#include "core/data/file_bytes.h"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/tensor/error.h"

namespace perceptra::data {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::path(path), ec)) throw InputError(path, "no such file");
  if (fs::is_directory(fs::path(path), ec)) throw InputError(path, "is a directory, expected a file");
  std::ifstream in(fs::path(path), std::ios::binary);
  if (!in) throw InputError(path, "cannot open for reading");
  in.seekg(0, std::ios::end);
  std::streamoff n = in.tellg();
  if (n < 0) throw InputError(path, "cannot determine the file size");
  in.seekg(0, std::ios::beg);
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  if (n > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), n))
    throw InputError(path, "read error");
  if (is_gzip(bytes)) return gunzip(bytes, path);
  return bytes;
}

bool is_gzip(const std::vector<uint8_t>& b) { return b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  z_stream zs{};
  // 15 + 16: zlib window with a gzip header and trailer (CRC checked).
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw InputError(path, "cannot initialise zlib");
  std::vector<uint8_t> out;
  out.resize(std::max<size_t>(in.size() * 3, 1 << 16));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  size_t produced = 0;
  while (true) {
    if (produced == out.size()) out.resize(out.size() * 2);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, 1u << 30));
    size_t before = zs.avail_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out > 0) {
      inflateEnd(&zs);
      throw InputError(path, "truncated gzip stream (ends after " + std::to_string(produced) +
                                 " decompressed bytes)");
    }
    if (rc == Z_BUF_ERROR) continue;  // output full: grow and retry
    std::string msg = zs.msg ? zs.msg : "error " + std::to_string(rc);
    inflateEnd(&zs);
    throw InputError(path, "corrupt gzip data (" + msg + ")");
  }
  inflateEnd(&zs);
  out.resize(produced);
  return out;
}

}  // namespace perceptra::data
