#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/data/augment.h"
#include "core/tensor/error.h"

using namespace perceptra;

namespace {
std::vector<float> pattern(int C, int H, int W) {
  std::vector<float> v(size_t(C * H * W));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float((i * 37) % 101) / 100.f;
  return v;
}
}  // namespace

TEST(Augment, DisabledIsIdentity) {
  auto img = pattern(1, 8, 8), orig = img;
  std::vector<float> scratch;
  Rng rng = augment_rng(1, 0, 0);
  augment_image(img.data(), 1, 8, 8, AugmentOptions{}, {}, rng, scratch);
  EXPECT_EQ(img, orig);
}

TEST(Augment, DeterministicPerSeedEpochAndSample) {
  AugmentOptions o;
  o.crop = o.hflip = o.rotate = o.color = true;
  std::vector<float> scratch;
  auto run = [&](uint64_t seed, int64_t epoch, int64_t idx) {
    auto img = pattern(3, 12, 10);
    Rng rng = augment_rng(seed, epoch, idx);
    augment_image(img.data(), 3, 12, 10, o, {}, rng, scratch);
    return img;
  };
  EXPECT_EQ(run(5, 2, 17), run(5, 2, 17));
  EXPECT_NE(run(5, 2, 17), run(5, 3, 17));
  EXPECT_NE(run(5, 2, 17), run(5, 2, 18));
  EXPECT_NE(run(5, 2, 17), run(6, 2, 17));
}

TEST(Augment, FlipMirrorsOrKeeps) {
  AugmentOptions o;
  o.hflip = true;
  int flipped = 0, kept = 0;
  std::vector<float> scratch;
  const int H = 4, W = 5;
  for (int s = 0; s < 64; ++s) {
    auto img = pattern(2, H, W), orig = img;
    Rng rng = augment_rng(0, 0, s);
    augment_image(img.data(), 2, H, W, o, {}, rng, scratch);
    if (img == orig) {
      ++kept;
      continue;
    }
    ++flipped;
    for (int c = 0; c < 2; ++c)
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          ASSERT_EQ(img[size_t(c * H * W + y * W + x)], orig[size_t(c * H * W + y * W + W - 1 - x)]);
  }
  EXPECT_GT(flipped, 15);
  EXPECT_GT(kept, 15);
}

TEST(Augment, CropWithPaddingIsAShiftWithBlackFill) {
  AugmentOptions o;
  o.crop = true;
  o.crop_padding = 2;
  NormStats norm{{0.5f}, {0.25f}};
  const float black = (0.f - 0.5f) / 0.25f;
  const int H = 6, W = 6;
  std::vector<float> scratch;
  int shifted = 0;
  for (int s = 0; s < 40; ++s) {
    auto img = pattern(1, H, W), orig = img;
    Rng rng = augment_rng(3, 1, s);
    augment_image(img.data(), 1, H, W, o, norm, rng, scratch);
    bool found = false;
    for (int dy = -2; dy <= 2 && !found; ++dy)
      for (int dx = -2; dx <= 2 && !found; ++dx) {
        bool ok = true;
        for (int y = 0; y < H && ok; ++y)
          for (int x = 0; x < W && ok; ++x) {
            int sy = y - dy, sx = x - dx;
            float want = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? orig[size_t(sy * W + sx)] : black;
            ok = img[size_t(y * W + x)] == want;
          }
        if (ok) {
          found = true;
          shifted += (dx != 0 || dy != 0);
        }
      }
    EXPECT_TRUE(found) << "sample " << s << " is not a shift of the input";
  }
  EXPECT_GT(shifted, 20);
}

TEST(Augment, SmallRotationKeepsCentreAndMoves) {
  AugmentOptions o;
  o.rotate = true;
  o.max_degrees = 10;
  const int H = 9, W = 9;
  std::vector<float> scratch;
  auto img = pattern(1, H, W), orig = img;
  Rng rng = augment_rng(0, 0, 1);
  augment_image(img.data(), 1, H, W, o, {}, rng, scratch);
  EXPECT_NEAR(img[40], orig[40], 1e-5);  // the centre pixel is the rotation centre
  EXPECT_NE(img, orig);
  // A constant image stays constant away from the borders.
  std::vector<float> flat(81, 0.7f);
  Rng r2 = augment_rng(0, 0, 2);
  augment_image(flat.data(), 1, H, W, o, {}, r2, scratch);
  for (int y = 2; y < 7; ++y)
    for (int x = 2; x < 7; ++x) EXPECT_NEAR(flat[size_t(y * 9 + x)], 0.7f, 1e-5);
}

TEST(Augment, ColourJitterStaysInPixelRange) {
  AugmentOptions o;
  o.color = true;
  o.brightness = 0.5f;
  o.contrast = 0.5f;
  NormStats norm{{0.3f, 0.4f}, {0.2f, 0.3f}};
  std::vector<float> scratch;
  bool changed = false;
  for (int s = 0; s < 20; ++s) {
    auto img = pattern(2, 5, 5), orig = img;
    norm.apply(img.data(), 2, 25);
    auto normed = img;
    Rng rng = augment_rng(9, 0, s);
    augment_image(img.data(), 2, 5, 5, o, norm, rng, scratch);
    changed = changed || img != normed;
    norm.unapply(img.data(), 2, 25);
    for (float v : img) {
      EXPECT_GE(v, -1e-5f);
      EXPECT_LE(v, 1.f + 1e-5f);
    }
  }
  EXPECT_TRUE(changed);
}

TEST(Augment, NormalisedSpaceMatchesRawSpace) {
  // Augmenting then normalising equals normalising then augmenting.
  AugmentOptions o;
  o.crop = o.hflip = o.rotate = o.color = true;
  NormStats norm{{0.2f, 0.5f, 0.7f}, {0.3f, 0.2f, 0.1f}};
  std::vector<float> scratch;
  for (int s = 0; s < 10; ++s) {
    auto raw = pattern(3, 10, 10), nrm = raw;
    Rng r1 = augment_rng(4, 0, s), r2 = augment_rng(4, 0, s);
    augment_image(raw.data(), 3, 10, 10, o, {}, r1, scratch);
    norm.apply(raw.data(), 3, 100);
    norm.apply(nrm.data(), 3, 100);
    augment_image(nrm.data(), 3, 10, 10, o, norm, r2, scratch);
    for (size_t i = 0; i < raw.size(); ++i) ASSERT_NEAR(raw[i], nrm[i], 1e-3) << s << " " << i;
  }
}

TEST(Augment, OptionsJsonRoundTripAndValidation) {
  AugmentOptions o;
  o.crop = true;
  o.crop_padding = 3;
  o.max_degrees = 7;
  AugmentOptions b = AugmentOptions::from_json(o.to_json());
  EXPECT_TRUE(b.crop);
  EXPECT_EQ(b.crop_padding, 3);
  EXPECT_FLOAT_EQ(b.max_degrees, 7);
  EXPECT_THROW(AugmentOptions::from_json(nlohmann::json{{"max_degrees", 400}}), InputError);
}
