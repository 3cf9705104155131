#include "core/io/import/zip_reader.h"

#include <set>

#include "core/io/import/source_bytes.h"

namespace perceptra::import {

namespace {
constexpr uint32_t kEndOfCentralDir = 0x06054b50, kCentralHeader = 0x02014b50, kLocalHeader = 0x04034b50;
constexpr size_t kMaxEntries = 1 << 20;
}  // namespace

ZipArchive::ZipArchive(std::string_view bytes, std::string where) : bytes_(bytes), where_(std::move(where)) {
  ByteReader r(bytes, where_);
  // The end-of-central-directory record is in the last 22 + 65535 bytes.
  if (bytes.size() < 22) r.fail_at("is not a zip archive (too short; truncated?)");
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = bytes.size() > 22 + 65535 ? bytes.size() - 22 - 65535 : 0;
  for (uint64_t p = bytes.size() - 22 + 1; p-- > lowest;) {
    r.seek(p);
    if (r.le<uint32_t>() == kEndOfCentralDir) {
      eocd = p;
      break;
    }
  }
  if (eocd == UINT64_MAX) r.fail_at("is not a zip archive or is truncated (no end-of-central-directory record)");
  r.seek(eocd + 10);
  const uint16_t count = r.le<uint16_t>();
  const uint32_t dir_size = r.le<uint32_t>();
  const uint32_t dir_offset = r.le<uint32_t>();
  if (count == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF)
    r.fail_at("is a zip64 archive, which the importer does not read (files over 4 GiB)");
  if (!in_bounds(dir_offset, dir_size, eocd))
    r.fail_at("zip central directory (offset " + std::to_string(dir_offset) + ", " + std::to_string(dir_size) +
              " bytes) lies outside the file (truncated?)");
  r.seek(dir_offset);
  std::set<std::string> names;
  for (uint16_t i = 0; i < count; ++i) {
    if (r.le<uint32_t>() != kCentralHeader)
      r.fail_at("zip central directory entry " + std::to_string(i) + " is corrupt");
    r.take(4);  // versions
    const uint16_t flags = r.le<uint16_t>(), method = r.le<uint16_t>();
    r.take(8);  // time, date, crc
    const uint32_t csize = r.le<uint32_t>(), usize = r.le<uint32_t>();
    const uint16_t name_len = r.le<uint16_t>(), extra_len = r.le<uint16_t>(), comment_len = r.le<uint16_t>();
    r.take(8);  // disk, attributes
    const uint32_t local = r.le<uint32_t>();
    Entry e;
    e.name = std::string(r.take(name_len));
    r.take(uint64_t(extra_len) + comment_len);
    const std::string what = "zip entry '" + e.name + "'";
    if (flags & 1) r.fail_at(what + " is encrypted");
    if (method != 0)
      r.fail_at(what + " is compressed (method " + std::to_string(method) + "); torch.save writes stored entries only");
    if (csize != usize || csize == 0xFFFFFFFF || local == 0xFFFFFFFF)
      r.fail_at(what + " has inconsistent or zip64 sizes");
    // The local header repeats the name and may carry its own (alignment) extra.
    ByteReader l(bytes, where_);
    if (!in_bounds(local, 30, dir_offset)) r.fail_at(what + ": local header lies outside the file");
    l.seek(local);
    if (l.le<uint32_t>() != kLocalHeader) r.fail_at(what + ": local header is corrupt");
    l.seek(uint64_t(local) + 26);
    const uint16_t lname = l.le<uint16_t>(), lextra = l.le<uint16_t>();
    e.offset = uint64_t(local) + 30 + lname + lextra;
    e.size = usize;
    if (!in_bounds(e.offset, e.size, dir_offset))
      r.fail_at(what + " (" + std::to_string(e.size) + " bytes at offset " + std::to_string(e.offset) +
                ") runs past the data area (truncated?)");
    if (!names.insert(e.name).second) r.fail_at(what + " appears twice");
    if (entries_.size() >= kMaxEntries) r.fail_at("has too many zip entries");
    entries_.push_back(std::move(e));
  }
}

const ZipArchive::Entry* ZipArchive::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace perceptra::import
