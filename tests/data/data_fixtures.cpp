#include "tests/data/data_fixtures.h"

#include <zlib.h>

#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <stdexcept>

namespace perceptra::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path p = fs::temp_directory_path() / ("perceptra-data-test-" + std::to_string(rd()));
    if (fs::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::str(const std::string& rel) const { return rel.empty() ? path_.string() : (path_ / rel).string(); }

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& raw) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out(deflateBound(&zs, uLong(raw.size())) + 64);
  zs.next_in = const_cast<Bytef*>(raw.data());
  zs.avail_in = uInt(raw.size());
  zs.next_out = out.data();
  zs.avail_out = uInt(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

static void put32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

std::vector<uint8_t> idx_images(int n, int h, int w) {
  std::vector<uint8_t> b = {0, 0, 8, 3};
  put32(b, uint32_t(n));
  put32(b, uint32_t(h));
  put32(b, uint32_t(w));
  for (int i = 0; i < n; ++i)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) b.push_back(uint8_t((i * 7 + y * 3 + x) & 255));
  return b;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> b = {0, 0, 8, 1};
  put32(b, uint32_t(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

std::vector<uint8_t> idx_labels(int n, int classes) {
  std::vector<uint8_t> l;
  for (int i = 0; i < n; ++i) l.push_back(uint8_t(i % classes));
  return idx_labels(l);
}

std::vector<uint8_t> cifar_batch(int n) {
  std::vector<uint8_t> b;
  for (int i = 0; i < n; ++i) {
    b.push_back(uint8_t(i % 10));
    for (int k = 0; k < 3072; ++k) b.push_back(uint8_t((i + k) & 255));
  }
  return b;
}

void write_image(const fs::path& p, int w, int h, int channels, int v) {
  fs::create_directories(p.parent_path());
  cv::Mat m =
      channels == 1 ? cv::Mat(h, w, CV_8UC1, cv::Scalar(v)) : cv::Mat(h, w, CV_8UC3, cv::Scalar(v, v / 2, 255 - v));
  std::vector<uint8_t> buf;
  std::string ext = p.extension().string();
  if (!cv::imencode(ext.empty() ? ".png" : ext, m, buf)) throw std::runtime_error("cannot encode " + p.string());
  write_bytes(p, buf);
}

std::vector<uint8_t> corrupt_png(int w, int h) {
  cv::Mat m(h, w, CV_8UC1);
  cv::randu(m, 0, 255);
  std::vector<uint8_t> buf;
  cv::imencode(".png", m, buf);
  // Signature (8) + IHDR chunk (25) stay; the IDAT chunk's zlib data is scrambled.
  for (size_t i = 33 + 8; i < buf.size() - 12; ++i) buf[i] = uint8_t(buf[i] * 31 + 7);
  return buf;
}

}  // namespace perceptra::test
