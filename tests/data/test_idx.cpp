#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/data/class_names.h"
#include "core/data/idx.h"
#include "core/tensor/error.h"
#include "tests/data/data_fixtures.h"

using namespace perceptra;
using namespace perceptra::test;

TEST(Idx, ReadsPlainFiles) {
  TempDir d;
  write_bytes(d.path() / "train-images-idx3-ubyte", idx_images(12, 4, 5));
  write_bytes(d.path() / "train-labels-idx1-ubyte", idx_labels(12, 3));
  auto ds = load_idx(d.str("train-images-idx3-ubyte"), d.str("train-labels-idx1-ubyte"));
  ASSERT_EQ(ds->size(), 12);
  EXPECT_EQ(ds->sample_shape(), (Shape{1, 4, 5}));
  EXPECT_EQ(ds->num_classes(), 3);
  EXPECT_EQ(ds->class_names()[2], "2");
  EXPECT_EQ(ds->label(7), 1);
  std::vector<float> img(20);
  ds->image(5, img.data());
  // pixel(5, y=2, x=3) = 5*7 + 6 + 3 = 44
  EXPECT_FLOAT_EQ(img[2 * 5 + 3], 44.f / 255.f);
  ASSERT_NE(ds->pixels_u8(5), nullptr);
  EXPECT_EQ(ds->pixels_u8(5)[13], 44);
}

TEST(Idx, ReadsGzipFilesIdenticallyToPlain) {
  TempDir d;
  write_bytes(d.path() / "a-images-idx3-ubyte", idx_images(9, 3, 3));
  write_bytes(d.path() / "a-labels-idx1-ubyte", idx_labels(9, 4));
  write_bytes(d.path() / "b-images-idx3-ubyte.gz", gzip_bytes(idx_images(9, 3, 3)));
  write_bytes(d.path() / "b-labels-idx1-ubyte.gz", gzip_bytes(idx_labels(9, 4)));
  auto a = load_idx(d.str("a-images-idx3-ubyte"), d.str("a-labels-idx1-ubyte"));
  auto b = load_idx(d.str("b-images-idx3-ubyte.gz"), d.str("b-labels-idx1-ubyte.gz"));
  ASSERT_EQ(a->size(), b->size());
  for (int64_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ(a->label(i), b->label(i));
    EXPECT_EQ(0, std::memcmp(a->pixels_u8(i), b->pixels_u8(i), 9));
  }
}

TEST(Idx, TransposeForEmnist) {
  TempDir d;
  write_bytes(d.path() / "i", idx_images(2, 3, 3));
  write_bytes(d.path() / "l", idx_labels(2, 2));
  auto plain = load_idx(d.str("i"), d.str("l"));
  IdxOptions o;
  o.transpose = true;
  auto t = load_idx(d.str("i"), d.str("l"), o);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 3; ++x) EXPECT_EQ(t->pixels_u8(1)[y * 3 + x], plain->pixels_u8(1)[x * 3 + y]);
}

TEST(IdxBad, MissingFile) {
  TempDir d;
  write_bytes(d.path() / "l", idx_labels(2, 2));
  EXPECT_INPUT_ERROR(load_idx(d.str("nope-images"), d.str("l")), "nope-images", "no such file");
}

TEST(IdxBad, WrongMagicNumber) {
  TempDir d;
  std::vector<uint8_t> img = idx_images(2, 2, 2);
  img[0] = 0x89;  // e.g. a PNG
  write_bytes(d.path() / "img", img);
  write_bytes(d.path() / "lab", idx_labels(2, 2));
  EXPECT_INPUT_ERROR(load_idx(d.str("img"), d.str("lab")), d.str("img"), "wrong magic number");
  // A labels file passed as images: rank 1 instead of 3.
  EXPECT_INPUT_ERROR(load_idx(d.str("lab"), d.str("lab")), d.str("lab"), "wrong magic number 0x00000801");
}

TEST(IdxBad, TruncatedFile) {
  TempDir d;
  std::vector<uint8_t> img = idx_images(10, 4, 4);
  img.resize(img.size() - 5);
  write_bytes(d.path() / "img", img);
  write_bytes(d.path() / "lab", idx_labels(10, 2));
  EXPECT_INPUT_ERROR(load_idx(d.str("img"), d.str("lab")), d.str("img"), "truncated");
  write_bytes(d.path() / "tiny", {0, 0});
  EXPECT_INPUT_ERROR(load_idx(d.str("tiny"), d.str("lab")), d.str("tiny"), "truncated");
  write_bytes(d.path() / "header", {0, 0, 8, 3, 0, 0});
  EXPECT_INPUT_ERROR(load_idx(d.str("header"), d.str("lab")), d.str("header"), "truncated");
}

TEST(IdxBad, CountMismatch) {
  TempDir d;
  write_bytes(d.path() / "img", idx_images(10, 2, 2));
  write_bytes(d.path() / "lab", idx_labels(9, 2));
  EXPECT_INPUT_ERROR(load_idx(d.str("img"), d.str("lab")), d.str("lab"), "count mismatch: 9 labels");
}

TEST(IdxBad, LabelOutOfRange) {
  TempDir d;
  write_bytes(d.path() / "img", idx_images(3, 2, 2));
  write_bytes(d.path() / "lab", idx_labels(std::vector<uint8_t>{1, 10, 2}));
  IdxOptions o;
  o.class_names = fashion_mnist_class_names();
  EXPECT_INPUT_ERROR(load_idx(d.str("img"), d.str("lab"), o), d.str("lab"),
                     "label 10 at index 1 is out of range for 10 classes");
}

TEST(IdxBad, CorruptGzip) {
  TempDir d;
  std::vector<uint8_t> gz = gzip_bytes(idx_images(50, 8, 8));
  std::vector<uint8_t> corrupt = gz;
  for (size_t i = 20; i < 60 && i < corrupt.size(); ++i) corrupt[i] ^= 0x5A;
  write_bytes(d.path() / "corrupt.gz", corrupt);
  std::vector<uint8_t> cut(gz.begin(), gz.begin() + std::ptrdiff_t(gz.size() / 2));
  write_bytes(d.path() / "cut.gz", cut);
  write_bytes(d.path() / "lab", idx_labels(50, 2));
  EXPECT_INPUT_ERROR(load_idx(d.str("corrupt.gz"), d.str("lab")), d.str("corrupt.gz"), "gzip");
  EXPECT_INPUT_ERROR(load_idx(d.str("cut.gz"), d.str("lab")), d.str("cut.gz"), "truncated gzip");
}

TEST(IdxBad, TrailingBytes) {
  TempDir d;
  std::vector<uint8_t> img = idx_images(2, 2, 2);
  img.push_back(0);
  write_bytes(d.path() / "img", img);
  write_bytes(d.path() / "lab", idx_labels(2, 2));
  EXPECT_INPUT_ERROR(load_idx(d.str("img"), d.str("lab")), d.str("img"), "1 unexpected bytes");
}
