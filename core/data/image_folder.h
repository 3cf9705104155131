#pragma once
// Image folders: one sub-folder per class (names sorted = class indices).
// Opening reads only file headers (core/data/image_header.h): files that are
// not images are skipped and counted, and the folder's size is chosen from
// them when not given. Images are decoded when first read (by the loader's
// worker threads), converted to the channel count, resized to HxW with the
// resize policy (core/data/image_size.h), and kept in a cache of resized
// images (core/data/image_cache.h), so later epochs do not decode again.
// An image that cannot be decoded when read raises an InputError naming it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/image_cache.h"
#include "core/data/image_size.h"

namespace perceptra {

struct ImageFolderOptions {
  int channels = 0;  // 1 or 3; 0 = auto (3 if any image is colour, else 1)
  // 0x0 = auto: the native size when all images are equal and at most
  // 256 pixels on a side; else 224x224 (the most common size when every
  // image is smaller than 224 on both sides: never enlarged for nothing).
  int height = 0;
  int width = 0;
  ResizePolicy resize = ResizePolicy::crop;
  // In-memory cache of resized 8-bit images; what does not fit goes to
  // cache_dir (when set), else is decoded again each epoch.
  int64_t memory_budget_bytes = int64_t(512) << 20;
  std::string cache_dir;
  // When set, the memory budget is this one, shared with other folders
  // (resolve gives a folder's train/ and test/ parts one budget).
  std::shared_ptr<CacheBudget> shared_budget;
};

struct ImageFolderReport {
  int64_t images = 0;
  int64_t skipped_non_image = 0;      // files that are not images (by extension)
  int64_t skipped_unreadable = 0;     // image files whose header is not a readable image
  int64_t grayscale = 0, colour = 0;  // by their headers
  bool lazy = false;                  // true when the decoded images do not all fit the memory budget
  ImageSize size;                     // what the folder is decoded to
  ResizePolicy resize = ResizePolicy::crop;
  std::string size_note;              // how the size was chosen, one line
  std::vector<std::string> warnings;  // one line each, naming the file
};

bool is_image_file_name(const std::string& name);  // by extension, case-insensitive

// An opened image folder (what load_image_folder returns).
class ImageFolderDataset : public Dataset {
 public:
  struct Entry {
    std::string path;
    int label;
  };
  ImageFolderDataset(std::string root, std::vector<std::string> classes, std::vector<Entry> entries, int channels,
                     int height, int width, ResizePolicy policy, std::shared_ptr<CacheBudget> budget,
                     const std::string& cache_dir);

  int64_t size() const override { return int64_t(entries_.size()); }
  Shape sample_shape() const override { return Shape{c_, h_, w_}; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  int label(int64_t i) const override { return entries_.at(size_t(i)).label; }
  void image(int64_t i, float* out) const override;
  std::string source() const override { return root_; }

  // [C,H,W] 8-bit pixels of sample i, from the cache or decoded (and cached).
  void image_u8(int64_t i, uint8_t* out) const;
  const std::string& path(int64_t i) const { return entries_.at(size_t(i)).path; }
  ResizePolicy resize_policy() const { return policy_; }
  ImageCacheStats cache_stats() const { return cache_->stats(); }

 private:
  std::string root_;
  std::vector<std::string> classes_;
  std::vector<Entry> entries_;
  int c_, h_, w_;
  ResizePolicy policy_;
  std::unique_ptr<ResizedImageCache> cache_;
};

// Throws InputError naming the folder when it is missing, has no class
// sub-folders, has an empty class folder, or holds no images at all.
std::shared_ptr<Dataset> load_image_folder(const std::string& root, const ImageFolderOptions& options = {},
                                           ImageFolderReport* report = nullptr);

// Decodes one image file to [C,H,W] floats in [0,1] (RGB order for C=3),
// resized with `policy`. Throws InputError naming the file when it cannot be
// read or decoded.
void decode_image_file(const std::string& path, int channels, int height, int width, float* out,
                       ResizePolicy policy = ResizePolicy::squish);

}  // namespace perceptra
