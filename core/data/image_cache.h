#pragma once
// The cache of resized images behind an image folder: decoded [C,H,W] 8-bit
// samples kept in memory up to a byte budget; what does not fit goes to an
// on-disk cache (one small file per image, next to the experiment store) when
// a folder is given, else it is decoded again when next read. Entries are
// keyed by file path + mtime + size + the variant (policy, size, channels),
// so a changed file is decoded again and a disk entry from another run with
// the same variant is reused. Thread-safe: the loader's workers share it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

namespace perceptra {

struct ImageCacheStats {
  int64_t memory_hits = 0, disk_hits = 0, misses = 0;
  int64_t memory_bytes = 0;  // held in memory by this cache (all sharers: <= the budget)
  int64_t memory_items = 0;
  int64_t disk_writes = 0, disk_errors = 0;
};

// A memory budget several caches can share (a folder's train and test parts).
struct CacheBudget {
  explicit CacheBudget(int64_t limit_bytes) : limit(limit_bytes) {}
  const int64_t limit;
  std::atomic<int64_t> used{0};
  // Reserves `bytes` when they fit under the limit.
  bool reserve(int64_t bytes);
  void release(int64_t bytes) { used.fetch_sub(bytes); }
};

class ResizedImageCache {
 public:
  // `items` slots of `item_bytes` each; `variant` distinguishes decodes of
  // the same file (e.g. "crop 3x224x224").
  ResizedImageCache(int64_t items, int64_t item_bytes, std::shared_ptr<CacheBudget> budget, std::string disk_dir,
                    std::string variant);
  ~ResizedImageCache();

  // Copies slot `index` into `out` when it holds `file_key`'s pixels
  // (memory first, then disk). Counts a miss otherwise.
  bool get(int64_t index, const std::string& file_key, uint8_t* out);
  // Stores pixels: in memory while the budget allows, else on disk.
  void put(int64_t index, const std::string& file_key, const uint8_t* pixels);

  ImageCacheStats stats() const;
  int64_t memory_budget() const { return budget_->limit; }
  const std::string& disk_dir() const { return dir_; }

  // "path\nmtime-ns\nsize" of a file, or "" when it cannot be stat'ed.
  static std::string file_key(const std::string& path);

 private:
  struct Slot {
    std::string key;
    std::unique_ptr<uint8_t[]> pixels;
  };
  std::string disk_path(const std::string& full_key) const;
  bool disk_get(const std::string& full_key, uint8_t* out) const;
  void disk_put(const std::string& full_key, const uint8_t* pixels);

  int64_t item_bytes_;
  std::shared_ptr<CacheBudget> budget_;
  std::string dir_, variant_;
  mutable std::shared_mutex mu_;
  std::vector<Slot> slots_;
  std::atomic<int64_t> items_in_memory_{0};
  mutable std::atomic<int64_t> memory_hits_{0}, disk_hits_{0}, misses_{0};
  std::atomic<int64_t> disk_writes_{0}, disk_errors_{0};
};

}  // namespace perceptra
