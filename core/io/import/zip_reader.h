#pragma once
// The stored (uncompressed) entries of a zip archive: the layout torch.save
// writes (.pth/.pt). Reads the central directory, checks every entry's local
// header and extent against the archive, and refuses compressed, encrypted or
// zip64 entries by name. Nothing is decompressed, so nothing can expand.
#include <string>
#include <string_view>
#include <vector>

namespace perceptra::import {

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    uint64_t offset = 0;  // of the data within the archive bytes
    uint64_t size = 0;
  };
  // bytes must outlive the archive; where names the file in errors.
  ZipArchive(std::string_view bytes, std::string where);
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;
  std::string_view data(const Entry& e) const { return bytes_.substr(e.offset, e.size); }
  const std::string& where() const { return where_; }

 private:
  std::string_view bytes_;
  std::string where_;
  std::vector<Entry> entries_;
};

}  // namespace perceptra::import
