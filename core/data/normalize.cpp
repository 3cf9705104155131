#include "core/data/normalize.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "core/data/workers.h"
#include "core/tensor/error.h"

namespace perceptra {

NormStats NormStats::identity(int channels) {
  NormStats s;
  s.mean.assign(size_t(channels), 0.f);
  s.std.assign(size_t(channels), 1.f);
  return s;
}

void NormStats::apply(float* img, int64_t channels, int64_t plane) const {
  if (empty()) return;
  PCHECK(channels == int64_t(mean.size()),
         "NormStats: stats for " + std::to_string(mean.size()) + " channels applied to " + std::to_string(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const float m = mean[size_t(c)], inv = 1.f / std[size_t(c)];
    float* p = img + c * plane;
    for (int64_t i = 0; i < plane; ++i) p[i] = (p[i] - m) * inv;
  }
}

void NormStats::unapply(float* img, int64_t channels, int64_t plane) const {
  if (empty()) return;
  PCHECK(channels == int64_t(mean.size()), "NormStats: channel count mismatch");
  for (int64_t c = 0; c < channels; ++c) {
    const float m = mean[size_t(c)], s = std[size_t(c)];
    float* p = img + c * plane;
    for (int64_t i = 0; i < plane; ++i) p[i] = p[i] * s + m;
  }
}

nlohmann::json NormStats::to_json() const { return {{"mean", mean}, {"std", std}}; }

NormStats NormStats::from_json(const nlohmann::json& j) {
  NormStats s;
  try {
    s.mean = j.at("mean").get<std::vector<float>>();
    s.std = j.at("std").get<std::vector<float>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError("normalisation", std::string("malformed statistics: ") + e.what());
  }
  if (s.mean.size() != s.std.size()) throw InputError("normalisation", "mean and std have different channel counts");
  for (float v : s.std)
    if (!(v > 0.f) || !std::isfinite(v)) throw InputError("normalisation", "std must be positive and finite");
  return s;
}

NormStats compute_norm_stats(const Dataset& data, const std::vector<int64_t>& indices_in, int64_t max_samples) {
  const Shape shape = data.sample_shape();
  const int64_t C = shape[0], plane = shape[1] * shape[2];
  int64_t n = indices_in.empty() ? data.size() : int64_t(indices_in.size());
  PCHECK(n > 0, "compute_norm_stats: no samples");
  auto index_at = [&](int64_t k) { return indices_in.empty() ? k : indices_in[size_t(k)]; };
  int64_t used = (max_samples > 0 && max_samples < n) ? max_samples : n;
  auto sample_at = [&](int64_t k) { return index_at(used == n ? k : k * n / used); };
  std::vector<double> sum(size_t(C), 0.0), sq(size_t(C), 0.0);
  if (data.pixels_u8(sample_at(0)) != nullptr) {
    for (int64_t k = 0; k < used; ++k) {
      const uint8_t* p = data.pixels_u8(sample_at(k));
      // Integer sums per image are exact; scale once.
      for (int64_t c = 0; c < C; ++c) {
        uint64_t s = 0, q = 0;
        const uint8_t* pc = p + c * plane;
        for (int64_t j = 0; j < plane; ++j) {
          s += pc[j];
          q += uint32_t(pc[j]) * pc[j];
        }
        sum[size_t(c)] += double(s) / 255.0;
        sq[size_t(c)] += double(q) / (255.0 * 255.0);
      }
    }
  } else {
    // Decoded on demand (image folders): read on a few threads; per-sample
    // sums are added in sample order, so the result does not depend on them.
    std::vector<double> per(size_t(used) * size_t(C) * 2, 0.0);
    std::atomic<int64_t> next{0};
    std::exception_ptr error;
    std::mutex error_mu;
    auto work = [&] {
      std::vector<float> buf(static_cast<size_t>(C * plane));
      try {
        for (int64_t k; (k = next.fetch_add(1)) < used;) {
          data.image(sample_at(k), buf.data());
          for (int64_t c = 0; c < C; ++c) {
            double s = 0, q = 0;
            const float* pc = buf.data() + c * plane;
            for (int64_t j = 0; j < plane; ++j) {
              s += pc[j];
              q += double(pc[j]) * pc[j];
            }
            per[size_t((k * C + c) * 2)] = s;
            per[size_t((k * C + c) * 2 + 1)] = q;
          }
        }
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu);
        if (!error) error = std::current_exception();
        next = used;
      }
    };
    const int threads = int(std::min<int64_t>(used, default_decode_threads()));
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    if (error) std::rethrow_exception(error);
    for (int64_t k = 0; k < used; ++k)
      for (int64_t c = 0; c < C; ++c) {
        sum[size_t(c)] += per[size_t((k * C + c) * 2)];
        sq[size_t(c)] += per[size_t((k * C + c) * 2 + 1)];
      }
  }
  NormStats st;
  const double count = double(used) * double(plane);
  for (int64_t c = 0; c < C; ++c) {
    double m = sum[size_t(c)] / count;
    double var = std::max(0.0, sq[size_t(c)] / count - m * m);
    double sd = std::sqrt(var);
    if (sd < 1e-6) sd = 1.0;  // constant channel: keep values finite
    st.mean.push_back(float(m));
    st.std.push_back(float(sd));
  }
  return st;
}

}  // namespace perceptra
