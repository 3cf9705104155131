#pragma once
// IDX files (MNIST, Fashion-MNIST, EMNIST): an image file [N,H,W] of unsigned
// bytes and a label file [N], each plain or gzip-compressed.
#include <memory>
#include <string>
#include <vector>

#include "core/data/memory_dataset.h"

namespace perceptra {

struct IdxOptions {
  // Names of the classes; empty means "0".."max label". When given, a label
  // >= class_names.size() is an InputError.
  std::vector<std::string> class_names;
  // EMNIST stores each image transposed (column-major).
  bool transpose = false;
};

// Throws InputError naming the file and the problem (missing, wrong magic,
// truncated, count mismatch, label out of range, corrupt gzip).
std::shared_ptr<MemoryDataset> load_idx(const std::string& images_path, const std::string& labels_path,
                                        const IdxOptions& options = {});

}  // namespace perceptra
