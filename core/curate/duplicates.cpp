#include "core/curate/duplicates.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "core/data/curated_dataset.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace {

// Grey image (mean of channels) resampled to n x n by area averaging
// (bilinear when enlarging).
std::vector<float> grey_resized(const float* chw, int c, int h, int w, int n) {
  std::vector<float> grey(size_t(h) * w, 0.0f);
  for (int k = 0; k < c; ++k)
    for (size_t i = 0; i < grey.size(); ++i) grey[i] += chw[size_t(k) * grey.size() + i] / float(c);
  std::vector<float> out(size_t(n) * n);
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      // Source rectangle of this output cell; at least one pixel wide.
      double y0 = double(y) * h / n, y1 = double(y + 1) * h / n;
      double x0 = double(x) * w / n, x1 = double(x + 1) * w / n;
      int ya = int(y0), yb = std::max(ya + 1, int(std::ceil(y1)));
      int xa = int(x0), xb = std::max(xa + 1, int(std::ceil(x1)));
      yb = std::min(yb, h);
      xb = std::min(xb, w);
      double s = 0;
      for (int yy = ya; yy < yb; ++yy)
        for (int xx = xa; xx < xb; ++xx) s += grey[size_t(yy) * w + xx];
      out[size_t(y) * n + x] = float(s / double((yb - ya) * (xb - xa)));
    }
  return out;
}

const std::vector<double>& dct_rows() {  // 8 x 32 DCT-II basis
  static const std::vector<double> m = [] {
    std::vector<double> v(8 * 32);
    for (int u = 0; u < 8; ++u)
      for (int x = 0; x < 32; ++x) v[size_t(u) * 32 + x] = std::cos(M_PI * (2 * x + 1) * u / 64.0);
    return v;
  }();
  return m;
}

struct Thumb {
  uint64_t phash = 0;
  std::array<uint8_t, 256> small{};  // 16x16 grey
};

Thumb thumb_of(const float* chw, int c, int h, int w) {
  Thumb t;
  t.phash = perceptual_hash(chw, c, h, w);
  // Mean-centred (a brightness change is still the same picture), then
  // offset to mid-grey to fit a byte.
  auto s = grey_resized(chw, c, h, w, 16);
  double mean = 0;
  for (float v : s) mean += v / 256.0;
  for (size_t i = 0; i < 256; ++i)
    t.small[i] = uint8_t(std::lround(std::clamp(double(s[i]) - mean + 0.5, 0.0, 1.0) * 255));
  return t;
}

struct UnionFind {
  std::vector<size_t> parent;
  explicit UnionFind(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  size_t find(size_t a) {
    while (parent[a] != a) a = parent[a] = parent[parent[a]];
    return a;
  }
  void join(size_t a, size_t b) { parent[find(a)] = find(b); }
};

}  // namespace

uint64_t perceptual_hash(const float* chw, int c, int h, int w) {
  const auto g = grey_resized(chw, c, h, w, 32);
  const auto& d = dct_rows();
  // Low 8x8 frequencies: D (8x32) * G (32x32) * D^T.
  double tmp[8][32] = {};
  for (int u = 0; u < 8; ++u)
    for (int x = 0; x < 32; ++x) {
      double s = 0;
      for (int y = 0; y < 32; ++y) s += d[size_t(u) * 32 + y] * g[size_t(y) * 32 + x];
      tmp[u][x] = s;
    }
  double coef[64];
  for (int u = 0; u < 8; ++u)
    for (int v = 0; v < 8; ++v) {
      double s = 0;
      for (int x = 0; x < 32; ++x) s += tmp[u][x] * d[size_t(v) * 32 + x];
      coef[u * 8 + v] = s;
    }
  // Bits: above the median of the 63 AC coefficients (brightness, the DC
  // term, does not count).
  std::vector<double> ac(coef + 1, coef + 64);
  std::nth_element(ac.begin(), ac.begin() + 31, ac.end());
  const double median = ac[31];
  uint64_t bits = 0;
  for (int i = 1; i < 64; ++i)
    if (coef[i] > median) bits |= uint64_t(1) << i;
  return bits;
}

DuplicateReport find_duplicates(const DataSource& source, const SourceIdentities& ids, const Split& split,
                                const DuplicateOptions& options) {
  if (options.max_distance < 0 || options.max_distance > 15)
    throw InputError("duplicates", "max distance must be between 0 and 15 bits");
  std::vector<DuplicateMember> members;
  std::vector<uint64_t> content;
  std::vector<Thumb> thumbs;
  for (bool test : {false, true}) {
    const auto& data = test ? source.test : source.train;
    if (!data) continue;
    const Dataset& base = uncurated(*data);
    std::vector<char> valid(size_t(base.size()), test ? 1 : 0);
    if (!test && !source.test)
      for (int64_t v : split.valid)
        if (v >= 0 && v < data->size()) valid[size_t(uncurated_index(*data, v))] = 1;
    const Shape s = base.sample_shape();
    std::vector<float> px(size_t(s.numel()));
    for (int64_t i = 0; i < base.size(); ++i) {
      base.image(i, px.data());
      thumbs.push_back(thumb_of(px.data(), int(s[0]), int(s[1]), int(s[2])));
      content.push_back(ids.part(test).at(size_t(i)).hash);
      members.push_back({ids.part(test)[size_t(i)].image, test, i, base.label(i), valid[size_t(i)] != 0});
    }
  }
  const size_t n = members.size();
  UnionFind uf(n);
  std::vector<int> worst(n, 0);
  // Exact: equal content hashes.
  {
    std::unordered_map<uint64_t, size_t> first;
    first.reserve(n * 2);
    for (size_t i = 0; i < n; ++i) {
      auto [it, fresh] = first.emplace(content[i], i);
      if (!fresh) uf.join(i, it->second);
    }
  }
  // Near: multi-index hashing over max_distance + 1 bands.
  const int bands = options.max_distance + 1;
  const int max_diff_sum = int(options.max_pixel_diff * 255.0 * 256.0);
  auto close = [&](size_t i, size_t j) {
    if (content[i] == content[j]) return true;
    if (std::popcount(thumbs[i].phash ^ thumbs[j].phash) > options.max_distance) return false;
    int sum = 0;
    for (size_t k = 0; k < 256; ++k) sum += std::abs(int(thumbs[i].small[k]) - int(thumbs[j].small[k]));
    return sum <= max_diff_sum;
  };
  for (int b = 0; b < bands; ++b) {
    const int lo = 64 * b / bands, hi = 64 * (b + 1) / bands;
    const uint64_t mask = (hi - lo == 64 ? ~uint64_t(0) : ((uint64_t(1) << (hi - lo)) - 1)) << lo;
    std::unordered_map<uint64_t, std::vector<size_t>> buckets;
    for (size_t i = 0; i < n; ++i) buckets[thumbs[i].phash & mask].push_back(i);
    for (auto& [key, v] : buckets)
      for (size_t x = 0; x < v.size(); ++x)
        for (size_t y = x + 1; y < v.size(); ++y) {
          const size_t i = v[x], j = v[y];
          const int dist = std::popcount(thumbs[i].phash ^ thumbs[j].phash);
          if (dist > options.max_distance) continue;
          // Counted once: in the first band where the two agree.
          bool earlier = false;
          for (int e = 0; e < b && !earlier; ++e) {
            const int elo = 64 * e / bands, ehi = 64 * (e + 1) / bands;
            const uint64_t em = ((uint64_t(1) << (ehi - elo)) - 1) << elo;
            earlier = ((thumbs[i].phash ^ thumbs[j].phash) & em) == 0;
          }
          if (earlier) continue;
          if (!close(i, j)) continue;
          // Joining two groups needs their leaders (union-find roots) close
          // too, so a chain of look-alikes, each close to the next, never
          // becomes one huge group.
          const size_t ri = uf.find(i), rj = uf.find(j);
          if (ri != rj) {
            if ((ri != i || rj != j) && !close(ri, rj)) continue;
            uf.join(i, j);
          }
          worst[i] = std::max(worst[i], dist);
          worst[j] = std::max(worst[j], dist);
        }
  }
  std::unordered_map<size_t, std::vector<size_t>> groups;
  for (size_t i = 0; i < n; ++i) groups[uf.find(i)].push_back(i);
  DuplicateReport report;
  report.images = int64_t(n);
  for (auto& [root, idx] : groups) {
    if (idx.size() < 2) continue;
    DuplicateGroup g;
    g.exact = true;
    bool any_train = false, any_valid = false;
    for (size_t i : idx) {
      const auto& m = members[i];
      if (content[i] != content[idx[0]]) g.exact = false;
      if (m.label != members[idx[0]].label) g.cross_class = true;
      (m.valid ? any_valid : any_train) = true;
      g.max_distance = std::max(g.max_distance, worst[i]);
      g.members.push_back(m);
    }
    g.leak = any_train && any_valid;
    report.groups.push_back(std::move(g));
  }
  std::sort(report.groups.begin(), report.groups.end(), [](const DuplicateGroup& a, const DuplicateGroup& b) {
    if (a.leak != b.leak) return a.leak;
    if (a.cross_class != b.cross_class) return a.cross_class;
    return a.members.front().image < b.members.front().image;
  });
  return report;
}

}  // namespace perceptra
