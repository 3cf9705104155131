#include "core/data/file_bytes.h"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/data/input_limits.h"
#include "core/tensor/error.h"
#include "core/tensor/input_file.h"

namespace perceptra::data {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  // Regular files only: a FIFO would block, /dev/zero never ends.
  const std::string raw = read_regular_file(path, uint64_t(64) << 30, "data file");
  std::vector<uint8_t> bytes(raw.begin(), raw.end());
  if (is_gzip(bytes)) return gunzip(bytes, path);
  return bytes;
}

bool is_gzip(const std::vector<uint8_t>& b) { return b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

std::vector<uint8_t> gunzip(const std::vector<uint8_t>& in, const std::string& path) {
  z_stream zs{};
  // 15 + 16: zlib window with a gzip header and trailer (CRC checked).
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw InputError(path, "cannot initialise zlib");
  // Bounded: a 1.4 MB gzip can inflate to gigabytes. The trailer's size
  // (mod 2^32, untrusted) only sizes the first buffer.
  const uint64_t limit = input_limits().max_inflated_bytes;
  uint64_t hint = in.size() >= 18 ? (uint64_t(in[in.size() - 1]) << 24 | uint64_t(in[in.size() - 2]) << 16 |
                                     uint64_t(in[in.size() - 3]) << 8 | in[in.size() - 4])
                                  : 0;
  hint = std::max<uint64_t>(hint + 1, 1 << 16);
  std::vector<uint8_t> out;
  out.resize(size_t(std::min<uint64_t>(hint, limit + 1)));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  size_t produced = 0;
  while (true) {
    if (produced == out.size()) {
      if (produced > limit) {
        inflateEnd(&zs);
        throw InputError(path, "decompresses to more than " + std::to_string(limit >> 20) +
                                   " MB (the limit; PERCEPTRA_MAX_INFLATED_MB raises it)");
      }
      out.resize(size_t(std::min<uint64_t>(uint64_t(out.size()) * 2, limit + 1)));
    }
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, 1u << 30));
    size_t before = zs.avail_out;
    rc = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (rc == Z_STREAM_END) break;
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out > 0) {
      inflateEnd(&zs);
      throw InputError(path, "truncated gzip stream (ends after " + std::to_string(produced) + " decompressed bytes)");
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
