#include "core/data/image_cache.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

namespace perceptra {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'P', 'X', 'I', 'M', 'G', 'C', '1', '\n'};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

uint32_t crc(const uint8_t* p, int64_t n) { return uint32_t(crc32(crc32(0L, Z_NULL, 0), p, uInt(n))); }

}  // namespace

bool CacheBudget::reserve(int64_t bytes) {
  int64_t cur = used.load();
  while (cur + bytes <= limit)
    if (used.compare_exchange_weak(cur, cur + bytes)) return true;
  return false;
}

ResizedImageCache::ResizedImageCache(int64_t items, int64_t item_bytes, std::shared_ptr<CacheBudget> budget,
                                     std::string disk_dir, std::string variant)
    : item_bytes_(item_bytes),
      budget_(std::move(budget)),
      dir_(std::move(disk_dir)),
      variant_(std::move(variant)),
      slots_(size_t(std::max<int64_t>(0, items))) {
  if (!dir_.empty()) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) dir_.clear();  // no disk cache rather than failing the dataset
  }
}

ResizedImageCache::~ResizedImageCache() { budget_->release(items_in_memory_.load() * item_bytes_); }

std::string ResizedImageCache::file_key(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  const int64_t ns = int64_t(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return path + "\n" + std::to_string(ns) + "\n" + std::to_string(int64_t(st.st_size));
}

bool ResizedImageCache::get(int64_t index, const std::string& key, uint8_t* out) {
  {
    std::shared_lock<std::shared_mutex> lk(mu_);
    const Slot& s = slots_.at(size_t(index));
    if (s.pixels && s.key == key) {
      std::memcpy(out, s.pixels.get(), size_t(item_bytes_));
      memory_hits_.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
  }
  if (!dir_.empty() && disk_get(key + "\n" + variant_, out)) {
    disk_hits_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

void ResizedImageCache::put(int64_t index, const std::string& key, const uint8_t* pixels) {
  {
    std::unique_lock<std::shared_mutex> lk(mu_);
    Slot& s = slots_.at(size_t(index));
    if (s.pixels) {  // the file changed: same slot, same size
      std::memcpy(s.pixels.get(), pixels, size_t(item_bytes_));
      s.key = key;
      return;
    }
  }
  // Reserve budget before allocating, so concurrent puts never overshoot.
  if (budget_->reserve(item_bytes_)) {
    auto buf = std::make_unique<uint8_t[]>(size_t(item_bytes_));
    std::memcpy(buf.get(), pixels, size_t(item_bytes_));
    std::unique_lock<std::shared_mutex> lk(mu_);
    Slot& s = slots_.at(size_t(index));
    if (s.pixels) {  // another worker stored it meanwhile
      budget_->release(item_bytes_);
      return;
    }
    s.pixels = std::move(buf);
    s.key = key;
    items_in_memory_.fetch_add(1);
    return;
  }
  if (!dir_.empty()) disk_put(key + "\n" + variant_, pixels);
}

ImageCacheStats ResizedImageCache::stats() const {
  ImageCacheStats s;
  s.memory_hits = memory_hits_.load();
  s.disk_hits = disk_hits_.load();
  s.misses = misses_.load();
  s.memory_bytes = items_in_memory_.load() * item_bytes_;
  s.memory_items = items_in_memory_.load();
  s.disk_writes = disk_writes_.load();
  s.disk_errors = disk_errors_.load();
  return s;
}

std::string ResizedImageCache::disk_path(const std::string& full_key) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.pix", static_cast<unsigned long long>(fnv1a(full_key)));
  return (fs::path(dir_) / name).string();
}

// File: magic, u32 key length, key, u32 CRC-32 of the pixels, pixels. The
// stored key is compared in full (a hash collision is a miss, not wrong
// pixels) and the CRC catches a torn or damaged file.
bool ResizedImageCache::disk_get(const std::string& full_key, uint8_t* out) const {
  std::ifstream in(disk_path(full_key), std::ios::binary);
  if (!in) return false;
  char magic[8];
  uint32_t klen = 0, sum = 0;
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return false;
  if (!in.read(reinterpret_cast<char*>(&klen), 4) || klen != full_key.size()) return false;
  std::string k(klen, '\0');
  if (!in.read(k.data(), klen) || k != full_key) return false;
  if (!in.read(reinterpret_cast<char*>(&sum), 4)) return false;
  if (!in.read(reinterpret_cast<char*>(out), item_bytes_) || in.peek() != EOF) return false;
  return crc(out, item_bytes_) == sum;
}

void ResizedImageCache::disk_put(const std::string& full_key, const uint8_t* pixels) {
  const std::string path = disk_path(full_key);
  // Written to a unique temporary name and renamed: readers never see half a file.
  const std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "-" +
                          std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  {
    std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
    const uint32_t klen = uint32_t(full_key.size()), sum = crc(pixels, item_bytes_);
    o.write(kMagic, 8);
    o.write(reinterpret_cast<const char*>(&klen), 4);
    o.write(full_key.data(), klen);
    o.write(reinterpret_cast<const char*>(&sum), 4);
    o.write(reinterpret_cast<const char*>(pixels), item_bytes_);
    if (!o.flush()) {
      std::error_code ec;
      fs::remove(tmp, ec);
      disk_errors_.fetch_add(1);
      return;
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    disk_errors_.fetch_add(1);
    return;
  }
  disk_writes_.fetch_add(1);
}

}  // namespace perceptra
