#pragma once
// Stable image identities for curation: an image is named by where it is
// (the path relative to the dataset's root for image folders, the index for
// IDX/CIFAR, "test:<index>" in an official test file) plus a hash of its
// content (the file's bytes for folders, the pixels for IDX/CIFAR). Ledgers
// and dataset versions key on both, so a replaced file is not mistaken for
// the image it replaced.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/resolve.h"

namespace perceptra {

struct ImageIdentity {
  std::string image;  // "cat/001.png", "train/cat/001.png", "123", "test:45"
  uint64_t hash = 0;  // content hash
};

// 64-bit non-cryptographic hash (identity, not security).
uint64_t content_hash(const void* data, size_t bytes);
std::string hash_hex(uint64_t h);  // 16 lower-case hex digits

// Identities of every sample of a source's datasets, indexed like the base
// datasets (under any curated view). Image folders read each file once.
struct SourceIdentities {
  std::vector<ImageIdentity> train, test;
  const std::vector<ImageIdentity>& part(bool test_part) const { return test_part ? test : train; }
};
SourceIdentities identify(const DataSource& source);

// Where an IMAGE argument points: which part and which base sample.
struct ImageLocation {
  bool test_part = false;
  int64_t index = 0;  // into the part's base dataset
  const ImageIdentity* identity = nullptr;
};
// Finds `image` (an identity string; for IDX/CIFAR also a bare index) in the
// source. Throws InputError naming the dataset when there is no such image.
ImageLocation locate_image(const DataSource& source, const SourceIdentities& ids, const std::string& image);

// The dataset's file path for a folder image, "" for IDX/CIFAR samples.
std::string image_file_path(const DataSource& source, bool test_part, int64_t index);

}  // namespace perceptra
