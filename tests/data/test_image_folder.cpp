#include <gtest/gtest.h>

#include <fstream>

#include "core/data/image_folder.h"
#include "core/data/resolve.h"
#include "core/tensor/error.h"
#include "tests/data/data_fixtures.h"

using namespace perceptra;
using namespace perceptra::test;
namespace fs = std::filesystem;

namespace {
bool has_warning(const ImageFolderReport& r, const std::string& part) {
  for (const auto& w : r.warnings)
    if (w.find(part) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(ImageFolder, DecodesResizesAndSkipsNonImages) {
  TempDir d;
  write_image(d.path() / "b_dog" / "1.png", 8, 8, 1, 200);
  write_image(d.path() / "b_dog" / "2.bmp", 16, 12, 1, 100);
  write_image(d.path() / "a_cat" / "x.png", 8, 8, 1, 50);
  write_image(d.path() / "a_cat" / "nested" / "y.PNG", 8, 8, 1, 60);
  write_bytes(d.path() / "a_cat" / "notes.txt", {'h', 'i'});
  write_bytes(d.path() / "b_dog" / "Thumbs.db", {1, 2, 3});
  ImageFolderReport r;
  auto ds = load_image_folder(d.str(), {}, &r);
  ASSERT_EQ(ds->size(), 4);
  EXPECT_EQ(ds->class_names(), (std::vector<std::string>{"a_cat", "b_dog"}));
  EXPECT_EQ(ds->sample_shape(), (Shape{1, 8, 8}));  // the most common size (all are small)
  EXPECT_EQ(r.skipped_non_image, 2);
  EXPECT_FALSE(r.lazy);
  EXPECT_TRUE(has_warning(r, "skipped 1 non-image files"));
  EXPECT_EQ(ds->label(0), 0);
  EXPECT_EQ(ds->label(3), 1);
  std::vector<float> img(64);
  ds->image(2, img.data());  // b_dog/1.png (sorted), value 200
  EXPECT_NEAR(img[10], 200.f / 255.f, 1e-6);
  ds->image(3, img.data());  // 16x12 resized to 8x8, uniform 100
  EXPECT_NEAR(img[33], 100.f / 255.f, 1e-6);

  ImageFolderOptions o;
  o.height = 5;
  o.width = 7;
  o.channels = 3;
  auto big = load_image_folder(d.str(), o);
  EXPECT_EQ(big->sample_shape(), (Shape{3, 5, 7}));
}

TEST(ImageFolder, UncachedMatchesCached) {
  TempDir d;
  for (int i = 0; i < 6; ++i)
    write_image(d.path() / (std::string("c") + std::to_string(i % 2)) / (std::to_string(i) + ".png"), 10, 10, 3,
                40 * i);
  ImageFolderReport re, rl;
  auto eager = load_image_folder(d.str(), {}, &re);
  ImageFolderOptions o;
  o.memory_budget_bytes = 100;  // far below 6*3*10*10: nothing is kept
  auto lazy = load_image_folder(d.str(), o, &rl);
  EXPECT_FALSE(re.lazy);
  EXPECT_TRUE(rl.lazy);
  EXPECT_EQ(lazy->pixels_u8(0), nullptr);
  ASSERT_EQ(eager->size(), lazy->size());
  std::vector<float> a(300), b(300);
  for (int64_t i = 0; i < eager->size(); ++i) {
    eager->image(i, a.data());
    lazy->image(i, b.data());
    EXPECT_EQ(a, b) << i;
    EXPECT_EQ(eager->label(i), lazy->label(i));
  }
  // Colour order is RGB: write_image stores R = 255 - v.
  eager->image(1, a.data());  // c0/2.png? sorted: c0 = {0,2,4}, so index 1 is 2.png, v=80
  EXPECT_NEAR(a[0], (255 - 80) / 255.f, 1e-6);
  EXPECT_NEAR(a[200], 80 / 255.f, 1e-6);
}

TEST(ImageFolderBad, MissingPath) {
  TempDir d;
  EXPECT_INPUT_ERROR(load_image_folder(d.str("absent")), d.str("absent"), "no such folder");
}

TEST(ImageFolderBad, EmptyClassFolder) {
  TempDir d;
  write_image(d.path() / "cat" / "1.png", 4, 4, 1, 10);
  fs::create_directories(d.path() / "dog");
  write_bytes(d.path() / "dog" / "readme.txt", {'x'});
  EXPECT_INPUT_ERROR(load_image_folder(d.str()), d.str("dog"), "class folder 'dog' has no images");
}

TEST(ImageFolderBad, FolderWithNoImages) {
  TempDir d;
  write_bytes(d.path() / "a.txt", {'x'});
  write_bytes(d.path() / "b.csv", {'y'});
  EXPECT_INPUT_ERROR(load_image_folder(d.str()), d.str(), "folder has no images");
  TempDir e;
  EXPECT_INPUT_ERROR(load_image_folder(e.str()), e.str(), "folder has no images");
}

TEST(ImageFolderBad, CorruptPngAmongGoodOnesIsSkippedAndNamed) {
  TempDir d;
  for (int i = 0; i < 3; ++i) write_image(d.path() / "a" / (std::to_string(i) + ".png"), 6, 6, 1, 30 * i);
  write_image(d.path() / "b" / "ok.png", 6, 6, 1, 90);
  // A PNG signature followed by garbage: passes the extension check, fails decoding.
  std::vector<uint8_t> bad = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3, 4, 5};
  write_bytes(d.path() / "a" / "broken.png", bad);
  ImageFolderReport r;
  auto ds = load_image_folder(d.str(), {}, &r);
  EXPECT_EQ(ds->size(), 4);
  EXPECT_EQ(r.skipped_unreadable, 1);
  EXPECT_TRUE(has_warning(r, (d.path() / "a" / "broken.png").string())) << r.warnings.size();

  // A file whose header is fine but whose data is not fails when read,
  // with an InputError naming it.
  write_bytes(d.path() / "a" / "broken.png", corrupt_png(6, 6));
  ImageFolderOptions o;
  o.memory_budget_bytes = 1;
  o.channels = 1;
  o.height = o.width = 6;
  auto lazy = load_image_folder(d.str(), o);
  ASSERT_EQ(lazy->size(), 5);  // the header looks like a PNG
  std::vector<float> img(36);
  bool thrown = false;
  for (int64_t i = 0; i < lazy->size(); ++i) {
    try {
      lazy->image(i, img.data());
    } catch (const InputError& e) {
      thrown = true;
      EXPECT_NE(std::string(e.what()).find("broken.png"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("cannot decode"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(thrown);
}

TEST(ImageFolderBad, AllImagesOfAClassUnreadable) {
  TempDir d;
  write_image(d.path() / "a" / "1.png", 4, 4, 1, 1);
  write_bytes(d.path() / "b" / "x.png", {1, 2, 3});
  EXPECT_INPUT_ERROR(load_image_folder(d.str()), d.str("b"), "has no readable images");
}

TEST(ImageFolder, MixedGrayAndColour) {
  TempDir d;
  write_image(d.path() / "a" / "g.png", 5, 5, 1, 100);
  write_image(d.path() / "b" / "c.jpg", 5, 5, 3, 100);
  ImageFolderReport r;
  auto ds = load_image_folder(d.str(), {}, &r);
  EXPECT_EQ(ds->sample_shape()[0], 3);
  EXPECT_EQ(r.grayscale, 1);
  EXPECT_EQ(r.colour, 1);
  EXPECT_TRUE(has_warning(r, "mixed grayscale (1) and colour (1)"));
  std::vector<float> img(75);
  ds->image(0, img.data());  // gray replicated into 3 channels
  EXPECT_NEAR(img[0], img[25], 1e-6);
  EXPECT_NEAR(img[0], 100 / 255.f, 1e-6);
  ImageFolderOptions o;
  o.channels = 1;
  auto g = load_image_folder(d.str(), o);
  EXPECT_EQ(g->sample_shape()[0], 1);
}

TEST(ImageFolder, UnusualButValidNames) {
  TempDir d;
  write_image(d.path() / "chat noir" / "mon image 1.png", 4, 4, 1, 10);
  write_image(d.path() / "café ☕" / "naïve ñ 日本.png", 4, 4, 1, 20);
  write_image(d.path() / "x" / "-leading dash #1 (copy).PNG", 4, 4, 1, 30);
  auto ds = open_dataset(d.str());
  ASSERT_EQ(ds.train->size(), 3);
  EXPECT_EQ(ds.class_names[0], "café ☕");
  EXPECT_EQ(ds.class_names[1], "chat noir");
  std::vector<float> img(16);
  ds.train->image(0, img.data());
  EXPECT_NEAR(img[0], 20 / 255.f, 1e-6);
}

TEST(ImageFolder, TrainTestLayoutGivesOfficialSplit) {
  TempDir d;
  for (const char* part : {"train", "test"})
    for (const char* cls : {"a", "b"})
      for (int i = 0; i < 2; ++i) write_image(d.path() / part / cls / (std::to_string(i) + ".png"), 4, 4, 1, 10 * i);
  auto s = open_dataset(d.str());
  EXPECT_EQ(s.format, "image-folder");
  EXPECT_EQ(s.train->size(), 4);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.test->size(), 4);
  write_image(d.path() / "test" / "zzz" / "0.png", 4, 4, 1, 0);
  EXPECT_INPUT_ERROR(open_dataset(d.str()), "test", "class folders differ");
}
