#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/data/describe.h"
#include "core/data/resolve.h"
#include "core/tensor/error.h"
#include "tests/data/data_fixtures.h"

using namespace perceptra;
using namespace perceptra::test;
namespace fs = std::filesystem;

TEST(Resolve, IdxFolderWithTrainAndTest) {
  TempDir d;
  auto dir = d.path() / "my-fashion";
  write_bytes(dir / "train-images-idx3-ubyte.gz", gzip_bytes(idx_images(20, 28, 28)));
  write_bytes(dir / "train-labels-idx1-ubyte.gz", gzip_bytes(idx_labels(20, 10)));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(5, 28, 28));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels(5, 10));
  DataSource s = open_dataset(dir.string());
  EXPECT_EQ(s.format, "idx");
  EXPECT_EQ(s.train->size(), 20);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.test->size(), 5);
  // "fashion" in the folder name: Fashion-MNIST's class names.
  EXPECT_EQ(s.class_names[0], "T-shirt/top");
  EXPECT_EQ(s.class_names[9], "Ankle boot");
}

// Evaluation on the test split asks for it alone: the training files are not
// even read (a broken one does not matter), and data without a test split
// still loads its training set.
TEST(Resolve, TestSplitOnlySkipsTheTrainingSet) {
  TempDir d;
  auto dir = d.path() / "my-fashion";
  write_bytes(dir / "train-images-idx3-ubyte", {0, 0, 8, 3, 1, 2});  // truncated header
  write_bytes(dir / "train-labels-idx1-ubyte", idx_labels(20, 10));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_images(5, 28, 28));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_labels(5, 10));
  EXPECT_THROW(open_dataset(dir.string()), InputError);
  OpenOptions only;
  only.test_split_only = true;
  DataSource s = open_dataset(dir.string(), only);
  EXPECT_FALSE(s.train);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.test->size(), 5);
  EXPECT_EQ(s.class_names[9], "Ankle boot");

  TempDir c;
  for (int i = 1; i <= 5; ++i)
    write_bytes(c.path() / ("data_batch_" + std::to_string(i) + ".bin"), {1, 2, 3});  // broken
  write_bytes(c.path() / "test_batch.bin", cifar_batch(4));
  s = open_dataset(c.str(), only);
  EXPECT_FALSE(s.train);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.test->size(), 4);
  EXPECT_EQ(s.class_names.size(), 10u);

  TempDir t;
  write_bytes(t.path() / "train-images-idx3-ubyte", idx_images(4, 2, 2));
  write_bytes(t.path() / "train-labels-idx1-ubyte", idx_labels(4, 2));
  s = open_dataset(t.str(), only);
  ASSERT_TRUE(s.train);
  EXPECT_EQ(s.train->size(), 4);
  EXPECT_FALSE(s.test);
}

TEST(Resolve, IdxImagesFileFindsItsLabels) {
  TempDir d;
  write_bytes(d.path() / "train-images.idx3-ubyte", idx_images(4, 2, 2));
  write_bytes(d.path() / "train-labels.idx1-ubyte", idx_labels(4, 2));
  DataSource s = open_dataset(d.str("train-images.idx3-ubyte"));
  EXPECT_EQ(s.train->size(), 4);
  EXPECT_FALSE(s.test);
  std::filesystem::remove(d.path() / "train-labels.idx1-ubyte");
  EXPECT_INPUT_ERROR(open_dataset(d.str("train-images.idx3-ubyte")), "train-images.idx3-ubyte",
                     "no matching labels file");
}

TEST(Resolve, ClassesFileNamesIdxClasses) {
  TempDir d;
  write_bytes(d.path() / "train-images-idx3-ubyte", idx_images(4, 2, 2));
  write_bytes(d.path() / "train-labels-idx1-ubyte", idx_labels(std::vector<uint8_t>{0, 1, 2, 1}));
  {
    std::ofstream c(d.path() / "classes.txt");
    c << "zero\none\r\n";
  }
  EXPECT_INPUT_ERROR(open_dataset(d.str()), "train-labels-idx1-ubyte",
                     "label 2 at index 2 is out of range for 2 classes");
  {
    std::ofstream c(d.path() / "classes.txt");
    c << "zero\none\ntwo\n";
  }
  EXPECT_EQ(open_dataset(d.str()).class_names[2], "two");
}

TEST(Resolve, MissingPathAndUnknownName) {
  EXPECT_INPUT_ERROR(open_dataset("/definitely/not/here"), "/definitely/not/here", "no such file or folder");
  EXPECT_INPUT_ERROR(open_dataset("imagenet-22k"), "imagenet-22k", "not a dataset name");
  EXPECT_INPUT_ERROR(open_dataset(""), "dataset", "no dataset name");
}

TEST(Resolve, NotADatasetFile) {
  TempDir d;
  write_bytes(d.path() / "notes.txt", {'x'});
  EXPECT_INPUT_ERROR(open_dataset(d.str("notes.txt")), "notes.txt", "not a dataset");
}

TEST(Resolve, BundledSample) {
  ASSERT_FALSE(sample_data_dir().empty()) << "sample-data/shapes not found";
  DataSource s = open_dataset("sample");
  EXPECT_EQ(s.name, "sample");
  EXPECT_EQ(s.format, "image-folder");
  EXPECT_EQ(s.class_names, (std::vector<std::string>{"circle", "cross", "ring", "square", "star", "triangle"}));
  EXPECT_EQ(s.train->size(), 900);
  EXPECT_EQ(s.train->sample_shape(), (Shape{1, 28, 28}));
  EXPECT_TRUE(s.warnings.empty()) << s.warnings[0];
  DatasetInfo info = describe(s);
  for (int64_t c : info.train_counts) EXPECT_EQ(c, 150);
  EXPECT_GT(info.stats.mean[0], 0.05f);
  EXPECT_LT(info.stats.mean[0], 0.6f);
  nlohmann::json j = info.to_json();
  EXPECT_EQ(j["train_size"], 900);
  EXPECT_EQ(j["classes"].size(), 6u);
  DatasetInfo back = DatasetInfo::from_json(j);
  EXPECT_EQ(back.train_counts, info.train_counts);
  EXPECT_EQ(back.stats, info.stats);
  EXPECT_NE(info.to_text().find("triangle"), std::string::npos);
}

TEST(Resolve, KnownDatasetsListsNames) {
  auto k = known_datasets();
  std::vector<std::string> names;
  for (auto& d : k) names.push_back(d.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "fashion-mnist"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "sample"), names.end());
}

TEST(Resolve, RealFashionMnist) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST not installed (Debian package dataset-fashion-mnist)";
  DataSource s = open_dataset("fashion-mnist");
  EXPECT_EQ(s.name, "fashion-mnist");
  ASSERT_EQ(s.train->size(), 60000);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.test->size(), 10000);
  EXPECT_EQ(s.train->sample_shape(), (Shape{1, 28, 28}));
  EXPECT_EQ(s.class_names[0], "T-shirt/top");
  EXPECT_EQ(s.class_names[9], "Ankle boot");
  DatasetInfo info = describe(s);
  for (int64_t c : info.train_counts) EXPECT_EQ(c, 6000);
  for (int64_t c : info.test_counts) EXPECT_EQ(c, 1000);
  // Well-known statistics of the training set.
  EXPECT_NEAR(info.stats.mean[0], 0.2860, 1e-3);
  EXPECT_NEAR(info.stats.std[0], 0.3530, 1e-3);
  EXPECT_EQ(s.train->label(0), 9);  // first training image is an ankle boot
}
