#include "core/data/image_decode.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/data/image_header.h"
#include "core/data/input_limits.h"
#include "core/tensor/error.h"
#include "core/tensor/input_file.h"

namespace perceptra {

namespace {

std::atomic<int64_t> g_decodes{0};

// The largest libjpeg scale denominator (8, 4, 2) that still leaves at least
// the pixels the policy samples at the target size: decoding a 4000x3000
// photo at 1/8 is ~10x faster than at full size and loses nothing at 224.
int jpeg_denominator(const ImageHeader& h, int height, int width, ResizePolicy policy) {
  if (h.format != "jpeg" || h.width <= 0 || h.height <= 0) return 1;
  const double rh = double(h.height) / height, rw = double(h.width) / width;
  const double limit = policy == ResizePolicy::pad ? std::max(rh, rw) : std::min(rh, rw);
  for (int d : {8, 4, 2})
    if (limit >= d) return d;
  return 1;
}

cv::Mat resize_to(const cv::Mat& m, int height, int width) {
  if (m.rows == height && m.cols == width) return m;
  cv::Mat r;
  const bool shrink = m.rows > height || m.cols > width;
  cv::resize(m, r, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return r;
}

}  // namespace

int64_t image_decode_count() { return g_decodes.load(); }

cv::Mat decode_image_bytes(const std::vector<uint8_t>& bytes, int channels, std::string* why, int denom) {
  if (bytes.empty()) {
    *why = "empty image file";
    return {};
  }
  // Not IMREAD_UNCHANGED: OpenCV applies the EXIF orientation only with the
  // converting flags. Alpha is dropped by the decoder (not composited).
  int flags = channels == 1 ? cv::IMREAD_GRAYSCALE : cv::IMREAD_COLOR;
  if (denom == 2) flags = channels == 1 ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2;
  if (denom == 4) flags = channels == 1 ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4;
  if (denom == 8) flags = channels == 1 ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8;
  cv::Mat m;
  try {
    m = cv::imdecode(bytes, flags);
  } catch (const cv::Exception& e) {
    *why = std::string("cannot decode image (") + e.what() + ")";
    return {};
  }
  g_decodes.fetch_add(1, std::memory_order_relaxed);
  if (m.empty()) *why = "cannot decode image (corrupt or unsupported format)";
  return m;
}

cv::Mat resize_with_policy(const cv::Mat& m, int height, int width, ResizePolicy policy) {
  if (m.rows == height && m.cols == width) return m;
  const double sh = double(height) / m.rows, sw = double(width) / m.cols;
  if (policy == ResizePolicy::squish) return resize_to(m, height, width);
  if (policy == ResizePolicy::crop) {
    // The centred source region with the target's aspect ratio, then scaled:
    // the same pixels as scaling to cover and cropping, in one resampling.
    const double s = std::max(sh, sw);
    const int rw = std::clamp(int(std::lround(width / s)), 1, m.cols);
    const int rh = std::clamp(int(std::lround(height / s)), 1, m.rows);
    cv::Mat roi = m(cv::Rect((m.cols - rw) / 2, (m.rows - rh) / 2, rw, rh));
    cv::Mat r = resize_to(roi, height, width);
    return r.data == roi.data ? roi.clone() : r;
  }
  // pad: the whole image fits, centred on black.
  const double s = std::min(sh, sw);
  const int nw = std::clamp(int(std::lround(m.cols * s)), 1, width);
  const int nh = std::clamp(int(std::lround(m.rows * s)), 1, height);
  cv::Mat out = cv::Mat::zeros(height, width, m.type());
  resize_to(m, nh, nw).copyTo(out(cv::Rect((width - nw) / 2, (height - nh) / 2, nw, nh)));
  return out;
}

void decode_resized(const std::string& path, int channels, int height, int width, ResizePolicy policy, uint8_t* out) {
  // Regular files only (a FIFO would hang); dimensions checked from the
  // header before decoding (input_limits.h).
  const std::string raw = read_regular_file(path, uint64_t(1) << 30, "image file");
  std::vector<uint8_t> bytes(raw.begin(), raw.end());
  data::check_image_size(path, bytes.data(), bytes.size());
  ImageHeader h;
  std::string why;
  const int denom =
      parse_image_header(bytes.data(), bytes.size(), &h, &why) ? jpeg_denominator(h, height, width, policy) : 1;
  why.clear();
  cv::Mat m = decode_image_bytes(bytes, channels, &why, denom);
  if (m.empty()) throw InputError(path, why);
  if (m.depth() != CV_8U) {  // decoders may keep 16-bit/float for these flags on some formats
    cv::Mat u8;
    m.convertTo(u8, CV_8U, m.depth() == CV_16U ? 1.0 / 257.0 : 255.0);
    m = u8;
  }
  cv::Mat r = resize_with_policy(m, height, width, policy);
  if (!r.isContinuous()) r = r.clone();
  const int64_t plane = int64_t(height) * width;
  const uint8_t* p = r.ptr<uint8_t>();
  if (channels == 1) {
    std::copy_n(p, plane, out);
  } else {
    // BGR interleaved -> RGB planes.
    for (int64_t i = 0; i < plane; ++i) {
      out[i] = p[i * 3 + 2];
      out[plane + i] = p[i * 3 + 1];
      out[2 * plane + i] = p[i * 3];
    }
  }
}

}  // namespace perceptra
