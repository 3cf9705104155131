#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/interp/image.h"
#include "core/tensor/error.h"

using namespace perceptra;

TEST(Image, GridLayoutIsNearSquare) {
  int c = 0, r = 0;
  grid_layout(32, 0, &c, &r);
  EXPECT_EQ(c, 6);
  EXPECT_EQ(r, 6);
  grid_layout(64, 0, &c, &r);
  EXPECT_EQ(c, 8);
  EXPECT_EQ(r, 8);
  grid_layout(10, 0, &c, &r);
  EXPECT_EQ(c, 4);
  EXPECT_EQ(r, 3);
  grid_layout(1, 0, &c, &r);
  EXPECT_EQ(c, 1);
  EXPECT_EQ(r, 1);
  grid_layout(12, 5, &c, &r);
  EXPECT_EQ(c, 5);
  EXPECT_EQ(r, 3);
  grid_layout(0, 0, &c, &r);
  EXPECT_EQ(c, 0);
  EXPECT_EQ(r, 0);
}

TEST(Image, TileGeometryWithSeparatorsAndScale) {
  // 5 channels of 2x3, scale 2, 1-px separators -> 3 columns x 2 rows of 6x4 tiles.
  std::vector<float> x(5 * 2 * 3);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 6);
  TileOptions o;
  o.scale = 2;
  o.separator = 1;
  o.separator_value = 77;
  TiledImage t = tile_feature_maps(x.data(), 5, 2, 3, o);
  EXPECT_EQ(t.columns, 3);
  EXPECT_EQ(t.rows, 2);
  EXPECT_EQ(t.image.w, 3 * 6 + 2);
  EXPECT_EQ(t.image.h, 2 * 4 + 1);
  EXPECT_EQ(t.image.channels, 1);
  ASSERT_EQ(t.tiles.size(), 5u);
  EXPECT_EQ(t.tiles[4].index, 4);
  EXPECT_EQ(t.tiles[4].x, 7);
  EXPECT_EQ(t.tiles[4].y, 5);
  EXPECT_EQ(t.tiles[4].w, 6);
  EXPECT_EQ(t.tiles[4].h, 4);
  // Separator column between tiles 0 and 1, and the unused sixth cell.
  EXPECT_EQ(t.image.at(6, 0)[0], 77);
  EXPECT_EQ(t.image.at(15, 6)[0], 77);
  EXPECT_EQ(t.tile_at(6, 0), -1);
  EXPECT_EQ(t.tile_at(8, 6), 4);
  EXPECT_EQ(t.tile_at(0, 0), 0);
  // Values 0..5 per channel stretched min/max: top-left 0, bottom-right 255,
  // each value drawn as a 2x2 block.
  EXPECT_EQ(t.image.at(0, 0)[0], 0);
  EXPECT_EQ(t.image.at(1, 1)[0], 0);
  EXPECT_EQ(t.image.at(2, 0)[0], 51);  // 1/5
  EXPECT_EQ(t.image.at(5, 3)[0], 255);
  EXPECT_FLOAT_EQ(t.tiles[2].range.lo, 0.f);
  EXPECT_FLOAT_EQ(t.tiles[2].range.hi, 5.f);
}

TEST(Image, ConstantChannelsGiveBlackOrMidGreyWithoutNaN) {
  // Channel 0 all zero (dead ReLU), channel 1 all 5, channel 2 has a NaN and an inf.
  float nan = std::numeric_limits<float>::quiet_NaN();
  float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {0, 0, 0, 0, 5, 5, 5, 5, 1, nan, 3, inf};
  TileOptions o;
  o.separator = 0;
  TiledImage t = tile_feature_maps(x.data(), 3, 2, 2, o);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.image.at(i % 2, i / 2)[0], 0);        // channel 0
  for (int i = 0; i < 4; ++i) EXPECT_EQ(t.image.at(2 + i % 2, i / 2)[0], 128);  // channel 1
  // Channel 2 (second row of the 2x2 grid): range of the finite values [1, 3].
  EXPECT_FLOAT_EQ(t.tiles[2].range.lo, 1.f);
  EXPECT_FLOAT_EQ(t.tiles[2].range.hi, 3.f);
  EXPECT_EQ(t.image.at(0, 2)[0], 0);
  EXPECT_EQ(t.image.at(1, 2)[0], 0);  // NaN shown black
  EXPECT_EQ(t.image.at(0, 3)[0], 255);
  EXPECT_EQ(t.image.at(1, 3)[0], 255);  // +inf shown white
  EXPECT_EQ(normalize_value(7.f, {7.f, 7.f}), 0.5f);
  EXPECT_EQ(normalize_value(8.f, {7.f, 7.f}), 1.f);
  EXPECT_EQ(normalize_value(6.f, {7.f, 7.f}), 0.f);
  EXPECT_EQ(normalize_value(0.f, {0.f, 0.f}), 0.f);
}

TEST(Image, PercentileNormalisationIgnoresOutliers) {
  std::vector<float> v(101);
  for (int i = 0; i <= 100; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  EXPECT_FLOAT_EQ(percentile(v.data(), v.size(), 1.f), 1.f);
  EXPECT_FLOAT_EQ(percentile(v.data(), v.size(), 99.f), 99.f);
  EXPECT_FLOAT_EQ(percentile(v.data(), v.size(), 50.f), 50.f);
  std::vector<float> four = {4, 1, 3, 2};  // numpy.percentile([1,2,3,4], 25) == 1.75
  EXPECT_FLOAT_EQ(percentile(four.data(), 4, 25.f), 1.75f);
  v[100] = 1e6f;  // one hot pixel
  NormOptions robust;
  robust.mode = NormMode::Percentile;
  ValueRange r = value_range(v.data(), v.size(), robust);
  EXPECT_FLOAT_EQ(r.lo, 1.f);
  EXPECT_FLOAT_EQ(r.hi, 99.f);
  EXPECT_NEAR(normalize_value(50.f, r), 49.f / 98.f, 1e-6);
  EXPECT_EQ(normalize_value(1e6f, r), 1.f);
  // Plain min/max lets the outlier crush everything else to black.
  ValueRange mm = value_range(v.data(), v.size(), NormOptions{});
  EXPECT_LT(normalize_value(50.f, mm), 1e-3f);
}

TEST(Image, GlobalScopeSharesOneRange) {
  std::vector<float> x = {0, 1, 0, 10};  // two 1x2 channels
  TileOptions o;
  o.norm.scope = NormScope::Global;
  o.separator = 0;
  TiledImage t = tile_feature_maps(x.data(), 2, 1, 2, o);
  EXPECT_EQ(t.image.at(1, 0)[0], 26);  // 1/10
  EXPECT_EQ(t.image.at(3, 0)[0], 255);
  o.norm.scope = NormScope::PerChannel;
  t = tile_feature_maps(x.data(), 2, 1, 2, o);
  EXPECT_EQ(t.image.at(1, 0)[0], 255);
}

TEST(Image, ColourMapsMatchMatplotlib) {
  auto v0 = colormap_rgb(ColorMap::Viridis, 0.f), v1 = colormap_rgb(ColorMap::Viridis, 1.f);
  EXPECT_EQ(v0, (std::array<uint8_t, 3>{68, 1, 84}));
  EXPECT_EQ(v1, (std::array<uint8_t, 3>{253, 231, 37}));
  EXPECT_EQ(colormap_rgb(ColorMap::Magma, 0.f), (std::array<uint8_t, 3>{0, 0, 4}));
  EXPECT_EQ(colormap_rgb(ColorMap::Magma, 1.f), (std::array<uint8_t, 3>{252, 253, 191}));
  EXPECT_EQ(colormap_rgb(ColorMap::Gray, 0.5f), (std::array<uint8_t, 3>{128, 128, 128}));
  EXPECT_EQ(colormap_rgb(ColorMap::Viridis, std::nanf("")), v0);
  EXPECT_EQ(colormap_rgb(ColorMap::Viridis, 7.f), v1);
  EXPECT_EQ(colormap_from_name("magma"), ColorMap::Magma);
  EXPECT_EQ(colormap_name(ColorMap::Viridis), "viridis");
  EXPECT_THROW(colormap_from_name("jet"), InputError);

  std::vector<float> x = {0, 1};
  TileOptions o;
  o.colormap = ColorMap::Viridis;
  TiledImage t = tile_feature_maps(x.data(), 1, 1, 2, o);
  ASSERT_EQ(t.image.channels, 3);
  EXPECT_EQ(t.image.at(0, 0)[0], 68);
  EXPECT_EQ(t.image.at(1, 0)[1], 231);
}

TEST(Image, DenseStripWrapsAndSharesRange) {
  std::vector<float> x = {0, 1, 2, 3, 4};
  StripOptions o;
  o.colormap = ColorMap::Gray;
  o.per_row = 2;
  o.cell_w = 3;
  o.cell_h = 2;
  o.separator = 1;
  TiledImage t = dense_strip(x.data(), 5, o);
  EXPECT_EQ(t.columns, 2);
  EXPECT_EQ(t.rows, 3);
  EXPECT_EQ(t.image.w, 2 * 3 + 1);
  EXPECT_EQ(t.image.h, 3 * 2 + 2);
  ASSERT_EQ(t.tiles.size(), 5u);
  EXPECT_EQ(t.tiles[3].x, 4);
  EXPECT_EQ(t.tiles[3].y, 3);
  EXPECT_EQ(t.image.at(0, 0)[0], 0);
  EXPECT_EQ(t.image.at(5, 4)[0], 191);  // unit 3: 3/4
  EXPECT_EQ(t.image.at(2, 7)[0], 255);  // unit 4
  o.per_row = 0;
  EXPECT_EQ(dense_strip(x.data(), 5, o).rows, 1);
}

TEST(Image, InputImagesAndOverlay) {
  std::vector<float> rgb = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};  // 3 x 2x2
  Image8 img = image_from_chw(rgb.data(), 3, 2, 2);
  ASSERT_EQ(img.channels, 3);
  EXPECT_EQ(img.at(0, 0)[0], 255);
  EXPECT_EQ(img.at(1, 0)[1], 255);
  EXPECT_EQ(img.at(0, 1)[2], 255);
  EXPECT_EQ(img.at(1, 1)[0], 0);

  Image8 gray(2, 1, 1, 100);
  Image8 o = overlay_heatmap(gray, {0.f, 1.f}, ColorMap::Magma, 1.f);
  ASSERT_EQ(o.channels, 3);
  EXPECT_EQ(o.at(0, 0)[0], 100);  // cold: the image itself
  EXPECT_EQ(o.at(1, 0)[2], 191);  // hot with alpha 1: the colour
  EXPECT_THROW(overlay_heatmap(gray, {0.f}, ColorMap::Magma), Error);
}
