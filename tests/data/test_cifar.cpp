#include <gtest/gtest.h>

#include <fstream>

#include "core/data/cifar.h"
#include "core/data/resolve.h"
#include "core/tensor/error.h"
#include "tests/data/data_fixtures.h"

using namespace perceptra;
using namespace perceptra::test;

TEST(Cifar, ReadsBatchesAndMeta) {
  TempDir d;
  auto dir = d.path() / "cifar-10-batches-bin";
  write_bytes(dir / "data_batch_1.bin", cifar_batch(7));
  write_bytes(dir / "data_batch_2.bin", cifar_batch(5));
  write_bytes(dir / "test_batch.bin", cifar_batch(4));
  {
    std::ofstream m(dir / "batches.meta.txt");
    m << "plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
  }
  DataSource s = open_dataset(d.str());
  EXPECT_EQ(s.format, "cifar10");
  ASSERT_EQ(s.train->size(), 12);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.test->size(), 4);
  EXPECT_EQ(s.train->sample_shape(), (Shape{3, 32, 32}));
  EXPECT_EQ(s.class_names.size(), 10u);
  EXPECT_EQ(s.class_names[0], "plane");
  EXPECT_EQ(s.train->label(8), 1);  // second batch, record 1
  // Planes are R, G, B in file order: value (i + k) & 255.
  std::vector<float> img(3072);
  s.train->image(3, img.data());
  EXPECT_FLOAT_EQ(img[1024 + 5], float((3 + 1024 + 5) & 255) / 255.f);
}

TEST(CifarBad, TruncatedBatch) {
  TempDir d;
  std::vector<uint8_t> b = cifar_batch(3);
  b.resize(b.size() - 100);
  write_bytes(d.path() / "data_batch_1.bin", b);
  EXPECT_INPUT_ERROR(load_cifar10({d.str("data_batch_1.bin")}, {}, d.str()), d.str("data_batch_1.bin"),
                     "not a whole number of 3073-byte records");
}

TEST(CifarBad, LabelOutOfRange) {
  TempDir d;
  std::vector<uint8_t> b = cifar_batch(3);
  b[3073] = 12;
  write_bytes(d.path() / "data_batch_1.bin", b);
  EXPECT_INPUT_ERROR(load_cifar10({d.str("data_batch_1.bin")}, {}, d.str()), d.str("data_batch_1.bin"),
                     "label 12 at record 1 is out of range");
}

TEST(CifarBad, MissingBatch) {
  TempDir d;
  EXPECT_INPUT_ERROR(load_cifar10({d.str("data_batch_9.bin")}, {}, d.str()), "data_batch_9.bin", "no such file");
}
