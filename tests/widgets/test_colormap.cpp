#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/widgets/qt_app.h"
#include "widgets/colormap.h"

using namespace perceptra::widgets;

namespace {
void expectRgb(QRgb c, int r, int g, int b) {
  EXPECT_EQ(qRed(c), r);
  EXPECT_EQ(qGreen(c), g);
  EXPECT_EQ(qBlue(c), b);
}
}  // namespace

TEST(Colormap, EndsMatchMatplotlib) {
  expectRgb(colormapRgb(Colormap::Viridis, 0.0), 0x44, 0x01, 0x54);
  expectRgb(colormapRgb(Colormap::Viridis, 1.0), 0xfd, 0xe7, 0x25);
  expectRgb(colormapRgb(Colormap::Magma, 0.0), 0x00, 0x00, 0x04);
  expectRgb(colormapRgb(Colormap::Magma, 1.0), 0xfc, 0xfd, 0xbf);
  expectRgb(colormapRgb(Colormap::Gray, 0.0), 0, 0, 0);
  expectRgb(colormapRgb(Colormap::Gray, 1.0), 255, 255, 255);
  expectRgb(colormapRgb(Colormap::Gray, 0.5), 128, 128, 128);
  // Midpoint of viridis lies between the 5th and 6th anchors (#26828e, #1f9e89).
  const QRgb mid = colormapRgb(Colormap::Viridis, 0.5);
  EXPECT_NEAR(qGreen(mid), (0x82 + 0x9e) / 2, 2);
}

TEST(Colormap, ClampsAndHandlesNaN) {
  EXPECT_EQ(colormapRgb(Colormap::Viridis, -3.0), colormapRgb(Colormap::Viridis, 0.0));
  EXPECT_EQ(colormapRgb(Colormap::Viridis, 7.0), colormapRgb(Colormap::Viridis, 1.0));
  EXPECT_EQ(colormapRgb(Colormap::Magma, std::nan("")), colormapRgb(Colormap::Magma, 0.0));
  const auto& table = colormapTable(Colormap::Viridis);
  ASSERT_EQ(table.size(), 256u);
  EXPECT_EQ(table.front() & 0xffffff, colormapRgb(Colormap::Viridis, 0.0) & 0xffffff);
  EXPECT_EQ(table.back() & 0xffffff, colormapRgb(Colormap::Viridis, 1.0) & 0xffffff);
  // Viridis brightens monotonically (its design goal): check luminance.
  for (std::size_t i = 1; i < table.size(); ++i) EXPECT_GE(qGray(table[i]) + 2, qGray(table[i - 1])) << i;
}

TEST(FloatPlane, MinMaxNormalised) {
  const std::vector<float> plane = {-2.0f, 0.0f, 2.0f, 6.0f};  // 2x2
  const QImage img = floatPlaneToImage(plane, 2, 2, Colormap::Gray);
  ASSERT_EQ(img.size(), QSize(2, 2));
  EXPECT_EQ(qRed(img.pixel(0, 0)), 0);
  EXPECT_EQ(qRed(img.pixel(1, 1)), 255);
  EXPECT_EQ(qRed(img.pixel(0, 1)), 128);  // 2 is the midpoint of [-2, 6]
  EXPECT_EQ(qRed(img.pixel(1, 0)), 64);   // 0 -> 0.25 -> 63.75 rounds to 64
  // An explicit range overrides min/max.
  const QImage fixed = floatPlaneToImage(plane, 2, 2, Colormap::Gray, ValueRange{0.0f, 2.0f});
  EXPECT_EQ(qRed(fixed.pixel(0, 0)), 0);    // clamped
  EXPECT_EQ(qRed(fixed.pixel(0, 1)), 255);  // 2 -> 1
  EXPECT_EQ(qRed(fixed.pixel(1, 1)), 255);  // clamped
}

TEST(FloatPlane, ConstantAndNonFinite) {
  const std::vector<float> flat(9, 3.0f);
  const QImage img = floatPlaneToImage(flat, 3, 3, Colormap::Viridis);
  EXPECT_EQ(img.pixel(1, 1) & 0xffffff, colormapRgb(Colormap::Viridis, 0.0) & 0xffffff);
  std::vector<float> bad = {0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f,
                            std::numeric_limits<float>::infinity()};
  const ValueRange r = valueRange(bad.data(), bad.size());
  EXPECT_FLOAT_EQ(r.lo, 0.0f);
  EXPECT_FLOAT_EQ(r.hi, 1.0f);
  const QImage b = floatPlaneToImage(bad, 2, 2, Colormap::Gray);
  EXPECT_EQ(qRed(b.pixel(0, 1)), 255);
  EXPECT_EQ(qRed(b.pixel(1, 0)), 0);  // NaN shows as the low end
  // Too little data or bad sizes give a null image rather than reading past the end.
  EXPECT_TRUE(floatPlaneToImage(bad, 3, 3).isNull());
  EXPECT_TRUE(floatPlaneToImage(bad.data(), 0, 2).isNull());
}

TEST(FloatPlane, RgbPlanes) {
  // 1x2 image: pixel 0 pure red, pixel 1 pure blue (planar R, G, B).
  const std::vector<float> rgb = {1, 0, 0, 0, 0, 1};
  const QImage img = rgbPlanesToImage(rgb.data(), 2, 1);
  expectRgb(img.pixel(0, 0), 255, 0, 0);
  expectRgb(img.pixel(1, 0), 0, 0, 255);
}

TEST(FloatPlane, TilePlanesNormalisesEachPlane) {
  // Three 2x2 planes with very different scales; each spans its own 0..255.
  std::vector<float> data = {0, 1, 2, 3, 0, 100, 200, 300, 5, 5, 5, 5};
  const QImage grid = tilePlanes(data.data(), 3, 2, 2, Colormap::Gray, 2, 1, QColor(9, 9, 9));
  ASSERT_EQ(grid.size(), QSize(2 * 2 + 1, 2 * 2 + 1));
  EXPECT_EQ(qRed(grid.pixel(1, 1)), 255);  // plane 0 max
  EXPECT_EQ(qRed(grid.pixel(4, 1)), 255);  // plane 1 max (300)
  EXPECT_EQ(qRed(grid.pixel(3, 0)), 0);    // plane 1 min
  EXPECT_EQ(qRed(grid.pixel(2, 0)), 9);    // gap column
  EXPECT_EQ(qRed(grid.pixel(0, 3)), 0);    // constant plane 2 -> low end
  EXPECT_EQ(qRed(grid.pixel(4, 4)), 9);    // empty 4th slot keeps the gap colour
  // Automatic columns give a near-square grid: 16 square planes -> 4 x 4.
  std::vector<float> many(16 * 4 * 4, 1.0f);
  const QImage sq = tilePlanes(many.data(), 16, 4, 4, Colormap::Gray, 0, 0);
  EXPECT_EQ(sq.size(), QSize(16, 16));
}

TEST(FloatPlane, OverlayHeatmap) {
  perceptra::widgets::test::app();
  QImage base(8, 8, QImage::Format_RGB32);
  base.fill(QColor(100, 100, 100));
  std::vector<float> heat(4 * 4, 0.0f);
  heat[15] = 1.0f;  // bottom-right hot
  const QImage none = overlayHeatmap(base, heat.data(), 4, 4, 0.0);
  EXPECT_EQ(none.pixel(7, 7), base.pixel(7, 7));
  const QImage blended = overlayHeatmap(base, heat.data(), 4, 4, 0.7, Colormap::Magma);
  ASSERT_EQ(blended.size(), base.size());
  auto dist = [&](int x, int y) {
    const QRgb a = blended.pixel(x, y), b = base.pixel(x, y);
    return std::abs(qRed(a) - qRed(b)) + std::abs(qGreen(a) - qGreen(b)) + std::abs(qBlue(a) - qBlue(b));
  };
  EXPECT_GT(dist(7, 7), dist(0, 0));  // hot area changes most
  // The hot corner takes magma's bright end colour (light yellow): red rises.
  EXPECT_GT(qRed(blended.pixel(7, 7)), 150);
}
