#pragma once
// Min/max decimation of a plot series: keeps each bucket's extreme values
// (so loss spikes stay visible) while bounding the number of points drawn.
#include <cstddef>
#include <vector>

namespace perceptra::widgets {

struct DecimatedSeries {
  std::vector<double> x;
  std::vector<double> y;
};

// Reduces points [first, last) of (x, y) to at most maxPoints points (>= 4)
// by splitting them into maxPoints/2 buckets of consecutive points and
// keeping each bucket's minimum and maximum y in their original order.
// Ranges with at most maxPoints points are copied unchanged. When
// skipNonPositive is set (log axes), points with y <= 0 are dropped first.
DecimatedSeries decimateMinMax(const std::vector<double>& x, const std::vector<double>& y, std::size_t first,
                               std::size_t last, std::size_t maxPoints, bool skipNonPositive = false);

// Index range [first, last) of the points whose x lies in [lo, hi], widened
// by one point on each side so lines reach the plot edges. x must be sorted.
void visibleIndexRange(const std::vector<double>& x, double lo, double hi, std::size_t& first, std::size_t& last);

}  // namespace perceptra::widgets
