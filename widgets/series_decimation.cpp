#include "widgets/series_decimation.h"

#include <algorithm>
#include <cmath>

namespace perceptra::widgets {

DecimatedSeries decimateMinMax(const std::vector<double>& x, const std::vector<double>& y, std::size_t first,
                               std::size_t last, std::size_t maxPoints, bool skipNonPositive) {
  DecimatedSeries out;
  last = std::min({last, x.size(), y.size()});
  if (first >= last) return out;
  maxPoints = std::max<std::size_t>(maxPoints, 4);
  auto usable = [&](std::size_t i) { return std::isfinite(y[i]) && (!skipNonPositive || y[i] > 0.0); };
  const std::size_t n = last - first;
  if (n <= maxPoints) {
    out.x.reserve(n);
    out.y.reserve(n);
    for (std::size_t i = first; i < last; ++i) {
      if (!usable(i)) continue;
      out.x.push_back(x[i]);
      out.y.push_back(y[i]);
    }
    return out;
  }
  const std::size_t buckets = maxPoints / 2;
  out.x.reserve(buckets * 2);
  out.y.reserve(buckets * 2);
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t s = first + n * b / buckets;
    const std::size_t e = first + n * (b + 1) / buckets;
    std::size_t lo = e, hi = e;
    for (std::size_t i = s; i < e; ++i) {
      if (!usable(i)) continue;
      if (lo == e || y[i] < y[lo]) lo = i;
      if (hi == e || y[i] > y[hi]) hi = i;
    }
    if (lo == e) continue;  // bucket had no drawable point
    const std::size_t a = std::min(lo, hi), c = std::max(lo, hi);
    out.x.push_back(x[a]);
    out.y.push_back(y[a]);
    if (c != a) {
      out.x.push_back(x[c]);
      out.y.push_back(y[c]);
    }
  }
  return out;
}

void visibleIndexRange(const std::vector<double>& x, double lo, double hi, std::size_t& first, std::size_t& last) {
  const auto b = std::lower_bound(x.begin(), x.end(), lo);
  const auto e = std::upper_bound(x.begin(), x.end(), hi);
  first = std::size_t(b - x.begin());
  last = std::size_t(e - x.begin());
  if (first > 0) --first;
  if (last < x.size()) ++last;
}

}  // namespace perceptra::widgets
