#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "widgets/series_decimation.h"

using namespace perceptra::widgets;

TEST(Decimation, SmallRangesAreCopied) {
  const std::vector<double> x = {0, 1, 2, 3}, y = {4, 3, 2, 1};
  const DecimatedSeries d = decimateMinMax(x, y, 0, 4, 100);
  EXPECT_EQ(d.x, x);
  EXPECT_EQ(d.y, y);
}

TEST(Decimation, BoundedAndKeepsSpikes) {
  std::vector<double> x(50000), y(50000);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = double(i) / 500.0;
    y[i] = 1.0 + 0.1 * std::sin(double(i) * 0.01);
  }
  y[12345] = 9.0;   // a loss spike
  y[40000] = -3.0;  // and a dip
  const DecimatedSeries d = decimateMinMax(x, y, 0, x.size(), 2000);
  EXPECT_LE(d.x.size(), 2000u);
  EXPECT_GT(d.x.size(), 1000u);
  EXPECT_DOUBLE_EQ(*std::max_element(d.y.begin(), d.y.end()), 9.0);
  EXPECT_DOUBLE_EQ(*std::min_element(d.y.begin(), d.y.end()), -3.0);
  EXPECT_TRUE(std::is_sorted(d.x.begin(), d.x.end()));  // order kept: a line can be drawn
  // The first bucket's minimum is its first point (the sine rises from 0).
  EXPECT_DOUBLE_EQ(d.x.front(), 0.0);
}

TEST(Decimation, SkipsNonPositiveForLogAxes) {
  const std::vector<double> x = {0, 1, 2, 3, 4}, y = {1, 0, -1, 2, 3};
  const DecimatedSeries d = decimateMinMax(x, y, 0, 5, 100, true);
  EXPECT_EQ(d.y, (std::vector<double>{1, 2, 3}));
}

TEST(Decimation, VisibleIndexRange) {
  std::vector<double> x(100);
  for (int i = 0; i < 100; ++i) x[std::size_t(i)] = i;
  std::size_t first = 0, last = 0;
  visibleIndexRange(x, 10.5, 20.5, first, last);
  EXPECT_EQ(first, 10u);  // one point left of the range, so the line enters the plot
  EXPECT_EQ(last, 22u);   // one point right of it
  visibleIndexRange(x, -50, 500, first, last);
  EXPECT_EQ(first, 0u);
  EXPECT_EQ(last, 100u);
}
