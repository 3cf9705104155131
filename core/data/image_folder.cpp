#include "core/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>

#include "core/data/image_decode.h"
#include "core/data/image_header.h"
#include "core/data/input_limits.h"
#include "core/tensor/error.h"
#include "core/tensor/input_file.h"

namespace perceptra {

namespace fs = std::filesystem;

namespace {

// "a.txt, b.doc, ... and 7 more": the names of skipped files, bounded so a
// folder of thousands of stray files stays one readable line.
std::string name_list(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  constexpr size_t kShown = 20;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > kShown) out += ", ... and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

using Entry = ImageFolderDataset::Entry;

// Headers that do not say grey or colour (palette BMPs, some TIFFs): decode a
// few of them to find out; larger ones are taken as colour.
constexpr int kMaxChannelProbes = 16;
constexpr int64_t kMaxProbePixels = int64_t(1) << 26;

int probe_channels(const std::string& path) {
  try {
    const std::string raw = read_regular_file(path, uint64_t(1) << 30, "image file");
    const std::vector<uint8_t> bytes(raw.begin(), raw.end());
    data::check_image_size(path, bytes.data(), bytes.size());
    cv::Mat m = cv::imdecode(bytes, cv::IMREAD_ANYCOLOR | cv::IMREAD_ANYDEPTH);
    return m.empty() ? 0 : m.channels();
  } catch (const cv::Exception&) {
    return 0;
  } catch (const InputError&) {
    return 0;
  }
}

std::string size_text(int h, int w) {
  return std::to_string(w) + "x" + std::to_string(h);
}  // WxH, as photos are described

// The automatic size (see ImageFolderOptions) from the images' headers.
ImageSize choose_size(const std::map<std::pair<int, int>, int64_t>& sizes, std::string* note) {
  int max_h = 0, max_w = 0;
  std::pair<int, int> mode{0, 0}, smallest{0, 0}, largest{0, 0};
  int64_t mode_n = -1;
  auto area = [](const std::pair<int, int>& hw) { return int64_t(hw.first) * hw.second; };
  for (const auto& [hw, n] : sizes) {
    max_h = std::max(max_h, hw.first);
    max_w = std::max(max_w, hw.second);
    if (n > mode_n) {
      mode = hw;
      mode_n = n;
    }
    if (smallest.first == 0 || area(hw) < area(smallest)) smallest = hw;
    if (area(hw) > area(largest)) largest = hw;
  }
  const int photo = kDefaultPhotoSide;
  if (sizes.size() == 1 && std::max(max_h, max_w) <= 256) {
    *note = "native size (all images are " + size_text(mode.first, mode.second) + ")";
    return {mode.first, mode.second};
  }
  const std::string range = sizes.size() == 1 ? "all images are " + size_text(mode.first, mode.second)
                                              : "images from " + size_text(smallest.first, smallest.second) + " to " +
                                                    size_text(largest.first, largest.second);
  if (max_h < photo && max_w < photo) {
    *note = "the most common size, " + size_text(mode.first, mode.second) + " (" + range + ")";
    return {mode.first, mode.second};
  }
  *note = std::to_string(photo) + "x" + std::to_string(photo) + " (" + range + "; --image-size to choose)";
  return {photo, photo};
}

}  // namespace

ImageFolderDataset::ImageFolderDataset(std::string root, std::vector<std::string> classes, std::vector<Entry> entries,
                                       int c, int h, int w, ResizePolicy policy, std::shared_ptr<CacheBudget> budget,
                                       const std::string& cache_dir)
    : root_(std::move(root)),
      classes_(std::move(classes)),
      entries_(std::move(entries)),
      c_(c),
      h_(h),
      w_(w),
      policy_(policy) {
  const std::string variant = std::string(resize_policy_name(policy)) + " " + std::to_string(c) + "x" +
                              std::to_string(h) + "x" + std::to_string(w);
  cache_ = std::make_unique<ResizedImageCache>(int64_t(entries_.size()), int64_t(c) * h * w, std::move(budget),
                                               cache_dir, variant);
}

void ImageFolderDataset::image_u8(int64_t i, uint8_t* out) const {
  const Entry& e = entries_.at(size_t(i));
  const std::string key = ResizedImageCache::file_key(e.path);
  if (key.empty()) throw InputError(e.path, "cannot open image file (it was removed or renamed)");
  if (cache_->get(i, key, out)) return;
  decode_resized(e.path, c_, h_, w_, policy_, out);
  cache_->put(i, key, out);
}

void ImageFolderDataset::image(int64_t i, float* out) const {
  const int64_t n = int64_t(c_) * h_ * w_;
  thread_local std::vector<uint8_t> buf;
  buf.resize(size_t(n));
  image_u8(i, buf.data());
  constexpr float k = 1.f / 255.f;
  for (int64_t j = 0; j < n; ++j) out[j] = float(buf[size_t(j)]) * k;
}

bool is_image_file_name(const std::string& name) {
  auto dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  static const char* known[] = {"png",  "jpg",  "jpeg", "jpe", "bmp", "dib", "tif",
                                "tiff", "webp", "pgm",  "ppm", "pbm", "pnm"};
  for (const char* k : known)
    if (ext == k) return true;
  return false;
}

void decode_image_file(const std::string& path, int channels, int height, int width, float* out, ResizePolicy policy) {
  std::vector<uint8_t> buf(size_t(channels) * height * width);
  decode_resized(path, channels, height, width, policy, buf.data());
  for (size_t i = 0; i < buf.size(); ++i) out[i] = float(buf[i]) * (1.0f / 255.0f);
}

std::shared_ptr<Dataset> load_image_folder(const std::string& root_in, const ImageFolderOptions& opt,
                                           ImageFolderReport* report_out) {
  ImageFolderReport report;
  std::error_code ec;
  fs::path root = fs::path(root_in);
  if (!fs::exists(root, ec)) throw InputError(root_in, "no such folder");
  if (!fs::is_directory(root, ec)) throw InputError(root_in, "not a folder");
  if (opt.channels != 0 && opt.channels != 1 && opt.channels != 3)
    throw InputError(root_in, "channels must be 1 or 3, got " + std::to_string(opt.channels));
  if (opt.height < 0 || opt.width < 0 || (opt.height == 0) != (opt.width == 0) || opt.height > kMaxImageSide ||
      opt.width > kMaxImageSide)
    throw InputError(root_in,
                     "image size must be given as both height and width (or neither), "
                     "each at most " +
                         std::to_string(kMaxImageSide));

  // Class folders, sorted by name so class indices are stable.
  std::vector<fs::path> class_dirs;
  int64_t loose_files = 0;
  std::vector<std::string> loose_names;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (e.is_directory(ec))
      class_dirs.push_back(e.path());
    else {
      ++loose_files;
      loose_names.push_back(name);
    }
  }
  if (ec) throw InputError(root_in, "cannot list folder (" + ec.message() + ")");
  std::sort(class_dirs.begin(), class_dirs.end());
  if (class_dirs.empty())
    throw InputError(
        root_in,
        "folder has no images: expected one sub-folder per class holding "
        "images" +
            (loose_files ? " (found " + std::to_string(loose_files) + " loose files, no sub-folders)" : std::string()));
  if (loose_files) {
    report.skipped_non_image += loose_files;
    report.warnings.push_back(root_in + ": skipped " + std::to_string(loose_files) +
                              " files outside the class sub-folders (" + name_list(loose_names) + ")");
  }

  // Every image's header: unreadable files are skipped now (not mid-epoch),
  // and the size and colour are decided without decoding anything.
  std::vector<std::string> classes;
  std::vector<Entry> entries;
  std::map<std::pair<int, int>, int64_t> sizes;  // (h, w) -> count
  std::vector<std::string> unknown_channels;
  for (const fs::path& dir : class_dirs) {
    const int label = int(classes.size());
    classes.push_back(dir.filename().string());
    std::vector<std::string> files;
    std::vector<std::string> other_names;
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
      if (is_image_file_name(name)) {
        files.push_back(it->path().string());
      } else {
        ++other;
        other_names.push_back(fs::relative(it->path(), dir, ec).string());
      }
    }
    if (ec) throw InputError(dir.string(), "cannot list folder (" + ec.message() + ")");
    if (other) {
      report.skipped_non_image += other;
      report.warnings.push_back(dir.string() + ": skipped " + std::to_string(other) + " non-image files (" +
                                name_list(other_names) + ")");
    }
    if (files.empty())
      throw InputError(dir.string(),
                       "class folder '" + classes.back() + "' has no images" +
                           (other ? " (only " + std::to_string(other) + " non-image files)" : std::string()));
    std::sort(files.begin(), files.end());
    int64_t kept = 0;
    for (auto& f : files) {
      ImageHeader h;
      std::string why;
      if (!read_image_header(f, &h, &why)) {
        ++report.skipped_unreadable;
        report.warnings.push_back(f + ": " + why + ", skipped");
        continue;
      }
      // Over the pixel limit: decoding it would be refused mid-epoch (or
      // exhaust memory), so it is skipped now, like an unreadable file.
      const int64_t pixel_limit = data::input_limits().max_image_pixels;
      if (int64_t(h.width) * h.height > pixel_limit) {
        ++report.skipped_unreadable;
        report.warnings.push_back(f + ": image header declares " + std::to_string(h.width) + "x" +
                                  std::to_string(h.height) + " pixels, more than the limit of " +
                                  std::to_string(pixel_limit) + " (PERCEPTRA_MAX_IMAGE_PIXELS raises it), skipped");
        continue;
      }
      ++sizes[{h.height, h.width}];
      if (h.channels == 0)
        unknown_channels.push_back(f);
      else
        (h.channels >= 3 ? report.colour : report.grayscale) += 1;
      entries.push_back({std::move(f), label});
      ++kept;
    }
    if (kept == 0) throw InputError(dir.string(), "class folder '" + classes.back() + "' has no readable images");
  }
  for (size_t k = 0; k < unknown_channels.size(); ++k) {
    const int c = k < size_t(kMaxChannelProbes) ? probe_channels(unknown_channels[k]) : 3;
    (c == 1 || c == 2 ? report.grayscale : report.colour) += 1;
  }

  int channels = opt.channels;
  if (channels == 0) channels = report.colour > 0 ? 3 : 1;
  if (report.colour > 0 && report.grayscale > 0)
    report.warnings.push_back(root_in + ": mixed grayscale (" + std::to_string(report.grayscale) + ") and colour (" +
                              std::to_string(report.colour) + ") images, all converted to " + std::to_string(channels) +
                              (channels == 1 ? " channel" : " channels"));
  ImageSize size{opt.height, opt.width};
  if (size.automatic())
    size = choose_size(sizes, &report.size_note);
  else
    report.size_note = "as asked";
  report.size = size;
  report.resize = opt.resize;
  report.images = int64_t(entries.size());
  const int64_t need = int64_t(channels) * size.height * size.width * report.images;
  report.lazy = need > (opt.shared_budget ? opt.shared_budget->limit : opt.memory_budget_bytes);
  if (report_out) *report_out = report;
  return std::make_shared<ImageFolderDataset>(
      root_in, std::move(classes), std::move(entries), channels, size.height, size.width, opt.resize,
      opt.shared_budget ? opt.shared_budget : std::make_shared<CacheBudget>(opt.memory_budget_bytes), opt.cache_dir);
}

}  // namespace perceptra
