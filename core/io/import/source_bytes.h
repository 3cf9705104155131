#pragma once
// Bounds-checked reading of an imported file's bytes. Every size or offset an
// importer takes from a file goes through these checks in 64-bit arithmetic
// before anything is allocated or read, and every failure is an InputError
// naming the file (hostile files never crash the process).
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/tensor/error.h"

namespace perceptra::import {

// The whole file (refused above max_bytes, 4 GiB by default).
std::string read_file_bytes(const std::string& path, uint64_t max_bytes = uint64_t(4) << 30);

// True when [offset, offset + size) lies inside [0, total) (no overflow).
inline bool in_bounds(uint64_t offset, uint64_t size, uint64_t total) {
  return offset <= total && size <= total - offset;
}
// a * b, false on overflow.
inline bool mul_ok(uint64_t a, uint64_t b, uint64_t& out) {
  if (a && b > UINT64_MAX / a) return false;
  out = a * b;
  return true;
}

// Little-endian reads at a checked position.
class ByteReader {
 public:
  ByteReader(std::string_view data, std::string where) : d_(data), where_(std::move(where)) {}
  uint64_t pos() const { return pos_; }
  uint64_t size() const { return d_.size(); }
  uint64_t left() const { return d_.size() - pos_; }
  bool done() const { return pos_ >= d_.size(); }
  void seek(uint64_t p) {
    if (p > d_.size()) fail_at("offset " + std::to_string(p) + " lies past the end");
    pos_ = p;
  }
  std::string_view take(uint64_t n) {
    if (n > left())
      fail_at("needs " + std::to_string(n) + " bytes at offset " + std::to_string(pos_) + " but only " +
              std::to_string(left()) + " remain (truncated?)");
    std::string_view v = d_.substr(size_t(pos_), size_t(n));
    pos_ += n;
    return v;
  }
  template <class T>
  T le() {
    std::string_view b = take(sizeof(T));
    T v{};
    std::memcpy(&v, b.data(), sizeof(T));  // the formats and this machine are little-endian
    return v;
  }
  uint8_t u8() { return le<uint8_t>(); }
  [[noreturn]] void fail_at(const std::string& problem) const { throw InputError(where_, problem); }
  const std::string& where() const { return where_; }

 private:
  std::string_view d_;
  std::string where_;
  uint64_t pos_ = 0;
};

}  // namespace perceptra::import
