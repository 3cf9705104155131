// The Dataset panel's image size and resize policy: a folder of photo-sized
// images opens at 224x224 (crop); choosing another size or policy reopens it
// decoded that way, and the training config the panel fills carries both.
#include <QApplication>
#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QTemporaryDir>
#include <QTest>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "app/studio/dataset_panel.h"

using namespace perceptra;
using namespace perceptra::studio;
namespace fs = std::filesystem;

namespace {

// Binary PPM (no codec needed): a horizontal gradient.
void write_ppm(const fs::path& p, int w, int h, int shade) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << "P6\n" << w << " " << h << "\n255\n";
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const char v = char((x * 255 / w + shade) % 256);
      f.put(v).put(char(shade)).put(char(255 - shade));
    }
}

std::vector<int64_t> openedShape(DatasetPanel& p) {
  EXPECT_TRUE(QTest::qWaitFor([&] { return !p.isLoading() && p.source() != nullptr; }, 30000))
      << p.errorText().toStdString();
  return p.info().shape;
}

}  // namespace

TEST(DatasetPanelImageSize, SizeAndPolicyReopenTheFolderAndGoIntoTheConfig) {
  QTemporaryDir tmp;
  const fs::path root = tmp.path().toStdString();
  for (int i = 0; i < 3; ++i) {
    write_ppm(root / "cats" / ("c" + std::to_string(i) + ".ppm"), 320, 240, 40 * i);
    write_ppm(root / "dogs" / ("d" + std::to_string(i) + ".ppm"), 400, 300, 30 * i);
  }
  DatasetPanel p;
  p.show();
  p.openDataset(QString::fromStdString(root.string()));
  EXPECT_EQ(openedShape(p), (std::vector<int64_t>{3, 224, 224}));
  EXPECT_EQ(p.imageSize(), QStringLiteral("auto"));
  EXPECT_EQ(p.resizePolicy(), QStringLiteral("crop"));
  auto* note = p.findChild<QLabel*>("imageSizeNote");
  ASSERT_NE(note, nullptr);
  EXPECT_TRUE(note->text().contains(QStringLiteral("224x224"))) << note->text().toStdString();

  // Typed into the size box like a user, then the policy picked.
  auto* size = p.findChild<QComboBox*>("imageSize");
  auto* policy = p.findChild<QComboBox*>("resizePolicy");
  ASSERT_TRUE(size && policy);
  size->lineEdit()->clear();
  QTest::keyClicks(size->lineEdit(), QStringLiteral("64x96"));
  QTest::keyClick(size->lineEdit(), Qt::Key_Return);
  EXPECT_EQ(openedShape(p), (std::vector<int64_t>{3, 64, 96}));
  EXPECT_EQ(p.source()->train->sample_shape(), (Shape{3, 64, 96}));
  policy->setCurrentIndex(policy->findData(QStringLiteral("pad")));
  emit policy->activated(policy->currentIndex());
  ASSERT_TRUE(QTest::qWaitFor([&] { return !p.isLoading() && p.info().resize == "pad"; }, 30000));
  EXPECT_EQ(p.source()->resize, "pad");

  TrainConfig c;
  p.applyTo(c);
  EXPECT_EQ(c.data, root.string());
  EXPECT_EQ(c.image_size, "64x96");
  EXPECT_EQ(c.resize, "pad");
  EXPECT_NO_THROW(c.validate());

  // Not a size: refused, the last good one stays, the reason is shown.
  EXPECT_FALSE(p.setImageSize(QStringLiteral("64x"), QStringLiteral("crop")));
  size->lineEdit()->clear();
  QTest::keyClicks(size->lineEdit(), QStringLiteral("huge"));
  QTest::keyClick(size->lineEdit(), Qt::Key_Return);
  EXPECT_EQ(p.imageSize(), QStringLiteral("64x96"));
  EXPECT_TRUE(note->text().contains(QStringLiteral("HxW"))) << note->text().toStdString();
  EXPECT_TRUE(p.setImageSize(QStringLiteral("32"), QStringLiteral("squish")));
  EXPECT_EQ(openedShape(p), (std::vector<int64_t>{3, 32, 32}));
  p.applyTo(c);
  EXPECT_EQ(c.image_size, "32");
  EXPECT_EQ(c.resize, "squish");
}

int main(int argc, char** argv) {
  qputenv("QT_QPA_PLATFORM", "offscreen");
  QApplication app(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
