#pragma once
// One resolver for every command and the GUI: a dataset name
// ("fashion-mnist", "mnist", "cifar10", "sample") or a path (IDX folder or
// images file, CIFAR-10 folder, image folder) becomes a DataSource with the
// training set and, when the data has one, its official test set.
#include <memory>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/image_folder.h"

namespace perceptra {

struct OpenOptions {
  ImageFolderOptions image;  // channels, size, resize policy, cache for image folders
  // IDX and CIFAR-10 data with an official test split: load only that split
  // (train stays null; evaluation needs nothing else). Image folders still
  // load train/, whose channels and size the test set takes.
  bool test_split_only = false;
};

struct DataSource {
  std::string name;                      // "fashion-mnist", "sample", or the path as given
  std::string format;                    // "idx", "cifar10" or "image-folder"
  std::string location;                  // resolved folder or file
  std::shared_ptr<const Dataset> train;  // null only with OpenOptions::test_split_only
  std::shared_ptr<const Dataset> test;   // official test split; null when absent
  std::vector<std::string> class_names;
  std::vector<std::string> warnings;  // skipped files etc., one line each
  int64_t skipped_files = 0;          // non-image + unreadable files skipped
  // Image folders: the resize policy ("crop", "squish", "pad") and how the
  // size was chosen; empty for datasets stored at a fixed size (IDX, CIFAR).
  std::string resize;
  std::string size_note;
};

// Throws InputError naming the file or folder and the problem.
DataSource open_dataset(const std::string& name_or_path, const OpenOptions& options = {});

// Named datasets and where they are (for the GUI's picker and `data info`).
struct KnownDataset {
  std::string name;         // what open_dataset accepts
  std::string description;  // one line
  std::string location;     // folder found, empty when not installed
  std::string hint;         // how to get it when missing
};
std::vector<KnownDataset> known_datasets();

// The bundled sample image folder, or "" when it cannot be found. Searched:
// $PERCEPTRA_SAMPLE_DATA, <exe>/../share/perceptra/sample-data, the source
// tree, the install prefix.
std::string sample_data_dir();

}  // namespace perceptra
