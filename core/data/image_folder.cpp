#include "core/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/data/input_limits.h"
#include "core/data/memory_dataset.h"
#include "core/tensor/error.h"
#include "core/tensor/input_file.h"

namespace perceptra {

namespace fs = std::filesystem;

namespace {

struct Entry {
  std::string path;
  int label;
};

// Reads the bytes ourselves (any file name works, clear "no such file"
// errors) and lets OpenCV decode them. Returns an empty Mat when the data is
// not a decodable image.
cv::Mat read_image(const std::string& path, std::string* why) {
  std::vector<uint8_t> bytes;
  try {
    // Regular files only (a FIFO would hang); dimensions checked from the
    // header before decoding (input_limits.h).
    std::string raw = read_regular_file(path, uint64_t(1) << 30, "image file");
    bytes.assign(raw.begin(), raw.end());
    data::check_image_size(path, bytes.data(), bytes.size());
  } catch (const InputError& e) {
    *why = e.problem();
    return {};
  }
  if (bytes.empty()) {
    *why = "empty image file";
    return {};
  }
  cv::Mat m;
  try {
    m = cv::imdecode(bytes, cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    *why = std::string("cannot decode image (") + e.what() + ")";
    return {};
  }
  if (m.empty()) *why = "cannot decode image (corrupt or unsupported format)";
  return m;
}

// 8-bit, 1 or 3 channels (BGR), alpha dropped.
cv::Mat to_u8_gray_or_bgr(const cv::Mat& m) {
  cv::Mat u8;
  if (m.depth() == CV_8U)
    u8 = m;
  else if (m.depth() == CV_16U)
    m.convertTo(u8, CV_8U, 1.0 / 257.0);
  else if (m.depth() == CV_32F || m.depth() == CV_64F)
    m.convertTo(u8, CV_8U, 255.0);
  else
    m.convertTo(u8, CV_8U);
  cv::Mat out;
  switch (u8.channels()) {
    case 1: out = u8; break;
    case 2: cv::extractChannel(u8, out, 0); break;  // gray + alpha
    case 3: out = u8; break;
    case 4: cv::cvtColor(u8, out, cv::COLOR_BGRA2BGR); break;
    default: cv::extractChannel(u8, out, 0); break;
  }
  return out;
}

// Converts a decoded image to the target channels/size; writes [C,H,W] u8.
void convert(const cv::Mat& native, int channels, int height, int width, uint8_t* out) {
  cv::Mat m = to_u8_gray_or_bgr(native);
  cv::Mat c;
  if (channels == 1)
    c = m.channels() == 1 ? m : [&] { cv::Mat g; cv::cvtColor(m, g, cv::COLOR_BGR2GRAY); return g; }();
  else {
    if (m.channels() == 1)
      cv::cvtColor(m, c, cv::COLOR_GRAY2RGB);
    else
      cv::cvtColor(m, c, cv::COLOR_BGR2RGB);
  }
  cv::Mat r;
  if (c.rows == height && c.cols == width)
    r = c;
  else {
    bool shrink = c.rows > height || c.cols > width;
    cv::resize(c, r, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  if (!r.isContinuous()) r = r.clone();
  const int64_t plane = int64_t(height) * width;
  const uint8_t* p = r.ptr<uint8_t>();
  if (channels == 1) {
    std::copy_n(p, plane, out);
  } else {
    for (int64_t i = 0; i < plane; ++i)
      for (int ch = 0; ch < 3; ++ch) out[ch * plane + i] = p[i * 3 + ch];
  }
}

bool is_colour(const cv::Mat& m) { return m.channels() >= 3; }

class LazyImageFolder : public Dataset {
 public:
  LazyImageFolder(std::string root, std::vector<std::string> classes, std::vector<Entry> entries,
                  int c, int h, int w)
      : root_(std::move(root)), classes_(std::move(classes)), entries_(std::move(entries)),
        c_(c), h_(h), w_(w) {}
  int64_t size() const override { return int64_t(entries_.size()); }
  Shape sample_shape() const override { return Shape{c_, h_, w_}; }
  const std::vector<std::string>& class_names() const override { return classes_; }
  int label(int64_t i) const override { return entries_.at(size_t(i)).label; }
  void image(int64_t i, float* out) const override {
    decode_image_file(entries_.at(size_t(i)).path, c_, h_, w_, out);
  }
  std::string source() const override { return root_; }

 private:
  std::string root_;
  std::vector<std::string> classes_;
  std::vector<Entry> entries_;
  int c_, h_, w_;
};

}  // namespace

bool is_image_file_name(const std::string& name) {
  auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  static const char* known[] = {"png", "jpg", "jpeg", "jpe", "bmp", "dib", "tif", "tiff",
                                "webp", "pgm", "ppm", "pbm", "pnm"};
  for (const char* k : known)
    if (ext == k) return true;
  return false;
}

void decode_image_file(const std::string& path, int channels, int height, int width, float* out) {
  std::string why;
  cv::Mat m = read_image(path, &why);
  if (m.empty()) throw InputError(path, why);
  std::vector<uint8_t> buf(size_t(channels) * height * width);
  convert(m, channels, height, width, buf.data());
  for (size_t i = 0; i < buf.size(); ++i) out[i] = float(buf[i]) * (1.0f / 255.0f);
}

std::shared_ptr<Dataset> load_image_folder(const std::string& root_in,
                                           const ImageFolderOptions& opt,
                                           ImageFolderReport* report_out) {
  ImageFolderReport report;
  std::error_code ec;
  fs::path root = fs::path(root_in);
  if (!fs::exists(root, ec)) throw InputError(root_in, "no such folder");
  if (!fs::is_directory(root, ec)) throw InputError(root_in, "not a folder");
  if (opt.channels != 0 && opt.channels != 1 && opt.channels != 3)
    throw InputError(root_in, "channels must be 1 or 3, got " + std::to_string(opt.channels));
  if (opt.height < 0 || opt.width < 0 || (opt.height == 0) != (opt.width == 0))
    throw InputError(root_in, "image size must be given as both height and width (or neither)");

  // Class folders, sorted by name so class indices are stable.
  std::vector<fs::path> class_dirs;
  int64_t loose_files = 0;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (e.is_directory(ec))
      class_dirs.push_back(e.path());
    else
      ++loose_files;
  }
  if (ec) throw InputError(root_in, "cannot list folder (" + ec.message() + ")");
  std::sort(class_dirs.begin(), class_dirs.end());
  if (class_dirs.empty())
    throw InputError(root_in, "folder has no images: expected one sub-folder per class holding "
                              "images" + (loose_files ? " (found " + std::to_string(loose_files) +
                                                            " loose files, no sub-folders)"
                                                      : std::string()));
  if (loose_files) {
    report.skipped_non_image += loose_files;
    report.warnings.push_back(root_in + ": skipped " + std::to_string(loose_files) +
                              " files outside the class sub-folders");
  }

  std::vector<std::string> classes;
  std::vector<Entry> entries;
  for (const fs::path& dir : class_dirs) {
    const int label = int(classes.size());
    classes.push_back(dir.filename().string());
    std::vector<std::string> files;
    int64_t other = 0;
    for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (ec) break;
      std::string name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec)) continue;
      if (is_image_file_name(name))
        files.push_back(it->path().string());
      else
        ++other;
    }
    if (ec) throw InputError(dir.string(), "cannot list folder (" + ec.message() + ")");
    if (other) {
      report.skipped_non_image += other;
      report.warnings.push_back(dir.string() + ": skipped " + std::to_string(other) +
                                " non-image files");
    }
    if (files.empty())
      throw InputError(dir.string(), "class folder '" + classes.back() + "' has no images" +
                                           (other ? " (only " + std::to_string(other) +
                                                        " non-image files)"
                                                  : std::string()));
    std::sort(files.begin(), files.end());
    for (auto& f : files) entries.push_back({std::move(f), label});
  }

  // Probe a spread of images (and always the first) for size and colour.
  int channels = opt.channels, height = opt.height, width = opt.width;
  {
    const size_t probes = std::min<size_t>(entries.size(), 64);
    bool any_colour = false;
    for (size_t k = 0; k < probes; ++k) {
      size_t i = k * entries.size() / probes;
      std::string why;
      cv::Mat m = read_image(entries[i].path, &why);
      if (m.empty()) continue;  // reported when decoded
      if (height == 0) {
        height = m.rows;
        width = m.cols;
      }
      any_colour = any_colour || is_colour(m);
    }
    if (height == 0)
      throw InputError(root_in, "none of the first images could be decoded (e.g. " +
                                    entries[0].path + ")");
    if (channels == 0) channels = any_colour ? 3 : 1;
  }

  const int64_t sample = int64_t(channels) * height * width;
  const int64_t need = sample * int64_t(entries.size());
  if (need > opt.memory_budget_bytes) {
    // Lazy: decoding happens on the loader's worker thread. Catch files
    // that are not images at all now, by their signature.
    std::vector<Entry> kept;
    for (auto& e : entries) {
      if (cv::haveImageReader(e.path)) {
        kept.push_back(std::move(e));
      } else {
        ++report.skipped_unreadable;
        report.warnings.push_back(e.path + ": not a readable image, skipped");
      }
    }
    entries = std::move(kept);
    report.lazy = true;
    report.images = int64_t(entries.size());
    std::vector<int64_t> per_class(classes.size(), 0);
    for (auto& e : entries) ++per_class[size_t(e.label)];
    for (size_t c = 0; c < classes.size(); ++c)
      if (per_class[c] == 0)
        throw InputError(class_dirs[c].string(),
                         "class folder '" + classes[c] + "' has no readable images");
    if (report_out) *report_out = report;
    return std::make_shared<LazyImageFolder>(root_in, std::move(classes), std::move(entries),
                                             channels, height, width);
  }

  // Eager: decode everything now; unreadable images become warnings.
  std::vector<cv::Mat> decoded;
  std::vector<int32_t> labels;
  std::vector<int64_t> per_class(classes.size(), 0);
  decoded.reserve(entries.size());
  for (const auto& e : entries) {
    std::string why;
    cv::Mat m = read_image(e.path, &why);
    if (m.empty()) {
      ++report.skipped_unreadable;
      report.warnings.push_back(e.path + ": " + why + ", skipped");
      continue;
    }
    m = to_u8_gray_or_bgr(m);
    (is_colour(m) ? report.colour : report.grayscale) += 1;
    // Resize now so the kept Mats stay small.
    if (m.rows != height || m.cols != width) {
      cv::Mat r;
      bool shrink = m.rows > height || m.cols > width;
      cv::resize(m, r, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
      m = r;
    }
    decoded.push_back(m);
    labels.push_back(e.label);
    ++per_class[size_t(e.label)];
  }
  for (size_t c = 0; c < classes.size(); ++c)
    if (per_class[c] == 0)
      throw InputError(class_dirs[c].string(),
                       "class folder '" + classes[c] + "' has no readable images");
  if (opt.channels == 0 && report.colour > 0) channels = 3;
  if (report.colour > 0 && report.grayscale > 0)
    report.warnings.push_back(root_in + ": mixed grayscale (" + std::to_string(report.grayscale) +
                              ") and colour (" + std::to_string(report.colour) +
                              ") images, all converted to " + std::to_string(channels) +
                              (channels == 1 ? " channel" : " channels"));
  const int64_t sample_c = int64_t(channels) * height * width;
  std::vector<uint8_t> pixels(size_t(sample_c) * decoded.size());
  for (size_t i = 0; i < decoded.size(); ++i)
    convert(decoded[i], channels, height, width, pixels.data() + i * size_t(sample_c));
  report.images = int64_t(decoded.size());
  if (report_out) *report_out = report;
  return std::make_shared<MemoryDataset>(root_in, Shape{channels, height, width},
                                         std::move(classes), std::move(pixels), std::move(labels));
}

}  // namespace perceptra
