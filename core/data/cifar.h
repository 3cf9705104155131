#pragma once
// CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes
// (32x32 red plane, green plane, blue plane), e.g. data_batch_1.bin ...
// data_batch_5.bin and test_batch.bin, class names in batches.meta.txt.
#include <memory>
#include <string>
#include <vector>

#include "core/data/memory_dataset.h"

namespace perceptra {

// Concatenates the given batch files. Empty class_names means the ten
// CIFAR-10 names. Throws InputError naming the file (missing, size not a
// whole number of records, label out of range).
std::shared_ptr<MemoryDataset> load_cifar10(const std::vector<std::string>& batch_files,
                                            std::vector<std::string> class_names, const std::string& source);

struct CifarLayout {
  std::string dir;                       // folder holding the .bin files
  std::vector<std::string> train_files;  // data_batch_*.bin, sorted
  std::string test_file;                 // test_batch.bin or empty
  std::string meta_file;                 // batches.meta.txt or empty
};
// Recognises a CIFAR-10 folder (or its cifar-10-batches-bin sub-folder).
bool find_cifar_layout(const std::string& dir, CifarLayout* out);

}  // namespace perceptra
