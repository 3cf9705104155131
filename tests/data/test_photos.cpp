// Photo folders: image size and resize policy, image headers, EXIF
// orientation, mixed grey/RGB/RGBA, the resized-image cache (memory budget,
// disk, invalidation), multi-worker loading, random-resized crop.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "core/data/augment.h"
#include "core/data/image_decode.h"
#include "core/data/image_folder.h"
#include "core/data/image_header.h"
#include "core/data/image_size.h"
#include "core/data/loader.h"
#include "core/data/resolve.h"
#include "core/tensor/error.h"
#include "tests/data/data_fixtures.h"

using namespace perceptra;
using namespace perceptra::test;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> encode(const cv::Mat& m, const std::string& ext) {
  std::vector<uint8_t> buf;
  if (!cv::imencode(ext, m, buf)) throw std::runtime_error("cannot encode " + ext);
  return buf;
}

void write_mat(const fs::path& p, const cv::Mat& m) {
  fs::create_directories(p.parent_path());
  write_bytes(p, encode(m, p.extension().string()));
}

cv::Mat random_mat(int h, int w, int type, unsigned seed) {
  cv::Mat m(h, w, type);
  cv::RNG rng(seed);
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  return m;
}

// Mean of each block x block region of a grey u8 image: what area averaging
// gives when shrinking by an integer factor (the reference for policies).
std::vector<double> block_mean(const cv::Mat& m, int by, int bx) {
  std::vector<double> out;
  for (int y = 0; y + by <= m.rows; y += by)
    for (int x = 0; x + bx <= m.cols; x += bx) {
      double s = 0;
      for (int dy = 0; dy < by; ++dy)
        for (int dx = 0; dx < bx; ++dx) s += m.at<uint8_t>(y + dy, x + dx);
      out.push_back(s / (by * bx));
    }
  return out;
}

std::vector<uint8_t> read_u8(const Dataset& d, int64_t i) {
  std::vector<float> f(size_t(d.sample_shape().numel()));
  d.image(i, f.data());
  std::vector<uint8_t> u(f.size());
  for (size_t k = 0; k < f.size(); ++k) u[k] = uint8_t(std::lround(f[k] * 255.f));
  return u;
}

std::shared_ptr<ImageFolderDataset> open_folder(const std::string& dir, ImageFolderOptions o = {},
                                                ImageFolderReport* r = nullptr) {
  auto d = std::dynamic_pointer_cast<ImageFolderDataset>(load_image_folder(dir, o, r));
  if (!d) throw std::runtime_error("not an ImageFolderDataset");
  return d;
}

// Inserts an EXIF APP1 segment with the orientation tag right after SOI.
// (OpenCV cannot write EXIF, so the bytes are built by hand: "Exif\0\0", a
// little-endian TIFF header, IFD0 with one SHORT entry 0x0112.)
// `padding` bytes after the IFD make the block large (cameras embed thumbnails).
std::vector<uint8_t> with_exif_orientation(const std::vector<uint8_t>& jpeg, int orientation, size_t padding = 0) {
  std::vector<uint8_t> tiff = {'I',
                               'I',
                               42,
                               0,
                               8,
                               0,
                               0,
                               0,  // header, IFD0 at 8
                               1,
                               0,  // one entry
                               0x12,
                               0x01,
                               3,
                               0,
                               1,
                               0,
                               0,
                               0,  // tag 0x0112 SHORT x1
                               uint8_t(orientation),
                               0,
                               0,
                               0,  // value
                               0,
                               0,
                               0,
                               0};  // no next IFD
  std::vector<uint8_t> app1 = {'E', 'x', 'i', 'f', 0, 0};
  app1.insert(app1.end(), tiff.begin(), tiff.end());
  app1.resize(app1.size() + padding, 0xAB);
  const size_t len = app1.size() + 2;
  std::vector<uint8_t> out;
  out.reserve(6 + app1.size() + jpeg.size());
  for (uint8_t b : {uint8_t(0xFF), uint8_t(0xD8), uint8_t(0xFF), uint8_t(0xE1), uint8_t(len >> 8), uint8_t(len & 0xFF)})
    out.push_back(b);
  out.insert(out.end(), app1.begin(), app1.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

}  // namespace

// ---- size and policy parsing ----------------------------------------------

TEST(ImageSize, ParsesSquareAndHeightByWidth) {
  EXPECT_EQ(parse_image_size("224").height, 224);
  EXPECT_EQ(parse_image_size("224").width, 224);
  ImageSize s = parse_image_size("160x224");
  EXPECT_EQ(s.height, 160);
  EXPECT_EQ(s.width, 224);
  EXPECT_TRUE(parse_image_size("auto").automatic());
  EXPECT_EQ(s.str(), "160x224");
  for (const char* bad : {"0", "-3", "224x", "x224", "22a", "224x160x3", "5000", "1e3"})
    EXPECT_INPUT_ERROR(parse_image_size(bad, "--image-size"), "--image-size", "");
  EXPECT_EQ(parse_resize_policy("Crop"), ResizePolicy::crop);
  EXPECT_EQ(parse_resize_policy("squish"), ResizePolicy::squish);
  EXPECT_EQ(parse_resize_policy("pad"), ResizePolicy::pad);
  EXPECT_INPUT_ERROR(parse_resize_policy("zoom", "--resize"), "--resize", "squish, crop or pad");
}

// ---- headers ----------------------------------------------------------------

TEST(ImageHeader, SizeAndChannelsOfEveryFormatWithoutDecoding) {
  TempDir d;
  struct Case {
    const char* ext;
    int type;
    int channels;
  } cases[] = {{".png", CV_8UC1, 1}, {".png", CV_8UC3, 3}, {".png", CV_8UC4, 4}, {".jpg", CV_8UC1, 1},
               {".jpg", CV_8UC3, 3}, {".bmp", CV_8UC3, 3}, {".ppm", CV_8UC3, 3}, {".pgm", CV_8UC1, 1},
               {".tif", CV_8UC3, 3}, {".webp", CV_8UC3, 3}};
  for (const auto& c : cases) {
    const fs::path p = d.path() / (std::string("x") + std::to_string(c.type) + c.ext);
    write_mat(p, random_mat(17, 29, c.type, 1));
    ImageHeader h;
    std::string why;
    ASSERT_TRUE(read_image_header(p.string(), &h, &why)) << c.ext << ": " << why;
    EXPECT_EQ(h.width, 29) << c.ext;
    EXPECT_EQ(h.height, 17) << c.ext;
    EXPECT_EQ(h.channels, c.channels) << c.ext;
  }
  // Truncated or foreign bytes: false with a reason, never a crash.
  std::vector<uint8_t> png = encode(random_mat(5, 5, CV_8UC1, 2), ".png");
  for (size_t n : {size_t(0), size_t(4), size_t(8), size_t(20)}) {
    ImageHeader h;
    std::string why;
    EXPECT_FALSE(parse_image_header(png.data(), n, &h, &why)) << n;
    EXPECT_FALSE(why.empty());
  }
  std::vector<uint8_t> jpg = encode(random_mat(5, 5, CV_8UC3, 2), ".jpg");
  for (size_t n = 0; n < 40 && n < jpg.size(); n += 3) {
    ImageHeader h;
    std::string why;
    EXPECT_FALSE(parse_image_header(jpg.data(), n, &h, &why)) << n;
  }
  const char text[] = "hello, not an image";
  ImageHeader h;
  std::string why;
  EXPECT_FALSE(parse_image_header(reinterpret_cast<const uint8_t*>(text), sizeof text, &h, &why));
  EXPECT_NE(why.find("not an image"), std::string::npos) << why;
}

// ---- policies: shapes and pixel values against a reference ----------------

TEST(ResizePolicy, SquishCropAndPadMatchBlockAverages) {
  // 40 wide x 20 high grey image of random pixels -> 10x10.
  cv::Mat src = random_mat(20, 40, CV_8UC1, 7);
  TempDir d;
  write_mat(d.path() / "a" / "img.png", src);
  auto near = [](const std::vector<uint8_t>& got, const std::vector<double>& want, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(double(got[i]), want[i], 1.0) << what << " pixel " << i;
  };
  ImageFolderOptions o;
  o.height = o.width = 10;

  // squish: 4x2 blocks of the whole image.
  o.resize = ResizePolicy::squish;
  auto sq = open_folder(d.str(), o);
  EXPECT_EQ(sq->sample_shape(), (Shape{1, 10, 10}));
  near(read_u8(*sq, 0), block_mean(src, 2, 4), "squish");

  // crop: the centred 20x20 square (columns 10..29), 2x2 blocks.
  o.resize = ResizePolicy::crop;
  auto cr = open_folder(d.str(), o);
  near(read_u8(*cr, 0), block_mean(src(cv::Rect(10, 0, 20, 20)), 2, 2), "crop");

  // pad: scaled by 1/4 to 10x5, rows 2..6, black above and below.
  o.resize = ResizePolicy::pad;
  auto pd = open_folder(d.str(), o);
  std::vector<double> want(100, 0.0);
  std::vector<double> inner = block_mean(src, 4, 4);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 10; ++x) want[size_t((y + 2) * 10 + x)] = inner[size_t(y * 10 + x)];
  near(read_u8(*pd, 0), want, "pad");

  // Non-square targets keep HxW order: 5 high x 20 wide crops rows 5..14.
  o.height = 5;
  o.width = 20;
  o.resize = ResizePolicy::crop;
  auto wide = open_folder(d.str(), o);
  EXPECT_EQ(wide->sample_shape(), (Shape{1, 5, 20}));
  near(read_u8(*wide, 0), block_mean(src(cv::Rect(0, 5, 40, 10)), 2, 2), "crop 5x20");
}

TEST(ResizePolicy, ColourChannelsStayRgbInEveryPolicy) {
  // Left half red, right half blue (BGR in OpenCV), 64 wide x 32 high.
  cv::Mat m(32, 64, CV_8UC3, cv::Scalar(0, 0, 255));
  m(cv::Rect(32, 0, 32, 32)).setTo(cv::Scalar(255, 0, 0));
  TempDir d;
  write_mat(d.path() / "a" / "rb.png", m);
  ImageFolderOptions o;
  o.height = o.width = 16;
  for (ResizePolicy p : {ResizePolicy::squish, ResizePolicy::crop, ResizePolicy::pad}) {
    o.resize = p;
    auto ds = open_folder(d.str(), o);
    auto px = read_u8(*ds, 0);
    const size_t plane = 256;
    const size_t mid_row = 8 * 16;
    EXPECT_EQ(px[mid_row + 1], 255) << resize_policy_name(p);               // R, left
    EXPECT_EQ(px[2 * plane + mid_row + 1], 0) << resize_policy_name(p);     // B, left
    EXPECT_EQ(px[2 * plane + mid_row + 14], 255) << resize_policy_name(p);  // B, right
    if (p == ResizePolicy::pad) {
      EXPECT_EQ(px[0], 0);  // top border is black
    }
  }
}

// ---- the automatic size -------------------------------------------------------

TEST(ImageFolderSize, NativeWhenSmallAndEqual224WhenLargeOrMixed) {
  {
    TempDir d;
    for (int i = 0; i < 4; ++i)
      write_image(d.path() / ("c" + std::to_string(i % 2)) / (std::to_string(i) + ".png"), 30, 20, 3, 9 * i);
    ImageFolderReport r;
    auto ds = open_folder(d.str(), {}, &r);
    EXPECT_EQ(ds->sample_shape(), (Shape{3, 20, 30}));
    EXPECT_NE(r.size_note.find("native"), std::string::npos) << r.size_note;
  }
  {
    // Photos of mixed sizes 320x240..800x600 (the case) -> 224x224.
    TempDir d;
    const int sizes[][2] = {{320, 240}, {800, 600}, {640, 480}, {600, 800}};
    for (int i = 0; i < 4; ++i)
      write_image(d.path() / ("c" + std::to_string(i % 2)) / (std::to_string(i) + ".jpg"), sizes[i][0], sizes[i][1], 3,
                  50);
    ImageFolderReport r;
    const int64_t decodes = image_decode_count();
    auto ds = open_folder(d.str(), {}, &r);
    EXPECT_EQ(image_decode_count(), decodes) << "opening must only read headers";
    EXPECT_EQ(ds->sample_shape(), (Shape{3, 224, 224}));
    EXPECT_EQ(r.resize, ResizePolicy::crop);
    EXPECT_NE(r.size_note.find("224x224"), std::string::npos) << r.size_note;
    EXPECT_NE(r.size_note.find("320x240"), std::string::npos) << r.size_note;
  }
  {
    // Equal but large -> 224.
    TempDir d;
    write_image(d.path() / "a" / "1.png", 300, 300, 1, 1);
    write_image(d.path() / "b" / "1.png", 300, 300, 1, 1);
    EXPECT_EQ(open_folder(d.str())->sample_shape(), (Shape{1, 224, 224}));
  }
}

TEST(ImageFolderSize, AHugeImageHeaderDoesNotSetTheSize) {
  // A PNG header claiming 20000x20000 (only the header: decoding it would be
  // 1.2 GB), sorted first, among ordinary photos.
  TempDir d;
  std::vector<uint8_t> png = encode(random_mat(4, 4, CV_8UC3, 3), ".png");
  auto be32 = [&](size_t at, uint32_t v) {
    for (int k = 0; k < 4; ++k) png[at + size_t(k)] = uint8_t(v >> (24 - 8 * k));
  };
  be32(16, 20000);
  be32(20, 20000);
  write_bytes(d.path() / "a" / "000 huge.png", png);
  write_image(d.path() / "a" / "1.jpg", 320, 240, 3, 10);
  write_image(d.path() / "b" / "2.jpg", 640, 480, 3, 20);
  const int64_t decodes = image_decode_count();
  ImageFolderReport r;
  auto ds = open_folder(d.str(), {}, &r);
  EXPECT_EQ(image_decode_count(), decodes);
  EXPECT_EQ(ds->sample_shape(), (Shape{3, 224, 224}));
}

// ---- EXIF, mixed channels ------------------------------------------------------

TEST(ImageFolderExif, OrientationIsHonoured) {
  // 40 wide x 20 high: left half white, right half black. Orientation 6
  // ("rotate 90 degrees clockwise to display"): 20 wide x 40 high, white on top.
  cv::Mat m(20, 40, CV_8UC1, cv::Scalar(0));
  m(cv::Rect(0, 0, 20, 20)).setTo(cv::Scalar(255));
  std::vector<uint8_t> jpg = with_exif_orientation(encode(m, ".jpg"), 6);
  TempDir d;
  write_bytes(d.path() / "a" / "rotated.jpg", jpg);
  ImageHeader h;
  std::string why;
  ASSERT_TRUE(read_image_header(d.str("a/rotated.jpg"), &h, &why)) << why;
  EXPECT_EQ(h.orientation, 6);
  EXPECT_EQ(h.width, 20);
  EXPECT_EQ(h.height, 40);
  auto ds = open_folder(d.str());
  ASSERT_EQ(ds->sample_shape(), (Shape{1, 40, 20}));
  auto px = read_u8(*ds, 0);
  EXPECT_GT(px[5 * 20 + 10], 240);  // top half white
  EXPECT_LT(px[35 * 20 + 10], 15);  // bottom half black
  // The same behind a 20 kB EXIF block (the frame header is not in the
  // first 4 KiB of the file: the header reader walks the segments).
  write_bytes(d.path() / "a" / "rotated.jpg", with_exif_orientation(encode(m, ".jpg"), 6, 20000));
  ASSERT_TRUE(read_image_header(d.str("a/rotated.jpg"), &h, &why)) << why;
  EXPECT_EQ(h.orientation, 6);
  EXPECT_EQ(h.width, 20);
  EXPECT_EQ(h.height, 40);
  EXPECT_EQ(open_folder(d.str())->sample_shape(), (Shape{1, 40, 20}));
  // Orientation 3 (180 degrees): same size, white on the right.
  write_bytes(d.path() / "a" / "rotated.jpg", with_exif_orientation(encode(m, ".jpg"), 3));
  auto ds3 = open_folder(d.str());
  ASSERT_EQ(ds3->sample_shape(), (Shape{1, 20, 40}));
  px = read_u8(*ds3, 0);
  EXPECT_LT(px[10 * 40 + 5], 15);
  EXPECT_GT(px[10 * 40 + 35], 240);
}

TEST(ImageFolderChannels, GreyRgbAndRgbaMixInOneFolder) {
  TempDir d;
  write_mat(d.path() / "a" / "grey.png", cv::Mat(8, 8, CV_8UC1, cv::Scalar(100)));
  write_mat(d.path() / "b" / "rgb.png", cv::Mat(8, 8, CV_8UC3, cv::Scalar(10, 20, 30)));  // B,G,R
  cv::Mat rgba(8, 8, CV_8UC4, cv::Scalar(40, 50, 60, 0));                                 // transparent
  rgba(cv::Rect(0, 0, 4, 8)).setTo(cv::Scalar(40, 50, 60, 255));
  write_mat(d.path() / "c" / "rgba.png", rgba);
  ImageFolderReport r;
  auto ds = open_folder(d.str(), {}, &r);
  ASSERT_EQ(ds->sample_shape(), (Shape{3, 8, 8}));
  EXPECT_EQ(r.grayscale, 1);
  EXPECT_EQ(r.colour, 2);
  auto g = read_u8(*ds, 0), c = read_u8(*ds, 1), a = read_u8(*ds, 2);
  EXPECT_EQ(g[0], 100);
  EXPECT_EQ(g[64], 100);
  EXPECT_EQ(g[128], 100);
  EXPECT_EQ(c[0], 30);  // R first
  EXPECT_EQ(c[64], 20);
  EXPECT_EQ(c[128], 10);
  EXPECT_EQ(a[7], 60);  // alpha dropped, colour kept (transparent side too)
  EXPECT_EQ(a[64 + 7], 50);
  EXPECT_EQ(a[128 + 7], 40);
  ImageFolderOptions o;
  o.channels = 1;
  auto grey = open_folder(d.str(), o);
  ASSERT_EQ(grey->sample_shape(), (Shape{1, 8, 8}));
  EXPECT_EQ(read_u8(*grey, 0)[0], 100);
  EXPECT_NEAR(read_u8(*grey, 1)[0], 0.299 * 30 + 0.587 * 20 + 0.114 * 10, 1.0);
}

// ---- cache ---------------------------------------------------------------------

TEST(ImageCache, SecondEpochDecodesNothingAndAChangedFileIsDecodedAgain) {
  TempDir d;
  for (int i = 0; i < 6; ++i)
    write_mat(d.path() / ("c" + std::to_string(i % 2)) / (std::to_string(i) + ".jpg"),
              random_mat(48, 64, CV_8UC3, unsigned(i)));
  ImageFolderOptions o;
  o.height = o.width = 32;
  auto ds = open_folder(d.str(), o);
  LoaderOptions lo;
  lo.batch_size = 4;
  lo.workers = 3;
  DataLoader loader(ds, {}, lo);
  EXPECT_EQ(loader.workers(), 3);
  auto epoch = [&](int64_t e) {
    std::vector<std::vector<float>> out(6);
    loader.start_epoch(e);
    Batch b;
    while (loader.next(b))
      for (int64_t k = 0; k < b.images.dim(0); ++k) {
        const float* p = b.images.data() + k * 3 * 32 * 32;
        out[size_t(b.indices[size_t(k)])].assign(p, p + 3 * 32 * 32);
      }
    return out;
  };
  int64_t before = image_decode_count();
  auto first = epoch(0);
  EXPECT_EQ(image_decode_count() - before, 6);
  before = image_decode_count();
  auto second = epoch(1);
  EXPECT_EQ(image_decode_count() - before, 0) << "epoch 2 must not decode";
  EXPECT_EQ(first, second);
  EXPECT_EQ(ds->cache_stats().memory_hits, 6);

  // Same size, new content and mtime: decoded again, new pixels.
  const fs::path changed = d.path() / "c0" / "2.jpg";
  const auto old_time = fs::last_write_time(changed);
  write_mat(changed, random_mat(48, 64, CV_8UC3, 99));
  fs::last_write_time(changed, old_time + std::chrono::seconds(2));
  before = image_decode_count();
  auto third = epoch(2);
  EXPECT_EQ(image_decode_count() - before, 1);
  int64_t idx = -1;
  for (int64_t i = 0; i < ds->size(); ++i)
    if (ds->path(i) == changed.string()) idx = i;
  ASSERT_GE(idx, 0);
  EXPECT_NE(third[size_t(idx)], first[size_t(idx)]);
  // Only the size changes (mtime restored): decoded again too.
  const auto t = fs::last_write_time(changed);
  std::vector<uint8_t> bytes = encode(random_mat(48, 64, CV_8UC3, 99), ".jpg");
  bytes.push_back(0);  // trailing byte after EOI: same picture, other size
  write_bytes(changed, bytes);
  fs::last_write_time(changed, t);
  before = image_decode_count();
  epoch(3);
  EXPECT_EQ(image_decode_count() - before, 1);
}

TEST(ImageCache, MemoryBudgetIsRespectedAndTheRestGoesToDisk) {
  TempDir d, cache;
  for (int i = 0; i < 8; ++i)
    write_mat(d.path() / ("c" + std::to_string(i % 2)) / (std::to_string(i) + ".png"),
              random_mat(20, 20, CV_8UC3, unsigned(i)));
  const int64_t item = 3 * 16 * 16;
  ImageFolderOptions o;
  o.height = o.width = 16;
  o.memory_budget_bytes = item * 3 + item / 2;  // 3.5 images
  o.cache_dir = cache.str();
  ImageFolderReport r;
  auto ds = open_folder(d.str(), o, &r);
  EXPECT_TRUE(r.lazy);
  std::vector<std::vector<uint8_t>> first;
  for (int64_t i = 0; i < 8; ++i) first.push_back(read_u8(*ds, i));
  ImageCacheStats s = ds->cache_stats();
  EXPECT_LE(s.memory_bytes, o.memory_budget_bytes);
  EXPECT_EQ(s.memory_items, 3);
  EXPECT_EQ(s.disk_writes, 5);
  EXPECT_EQ(s.misses, 8);
  int64_t before = image_decode_count();
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(read_u8(*ds, i), first[size_t(i)]);
  EXPECT_EQ(image_decode_count() - before, 0);
  s = ds->cache_stats();
  EXPECT_EQ(s.memory_hits, 3);
  EXPECT_EQ(s.disk_hits, 5);

  // A new opening (the next run) with no memory at all reads the disk cache.
  o.memory_budget_bytes = 0;
  auto again = open_folder(d.str(), o);
  before = image_decode_count();
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(read_u8(*again, i), first[size_t(i)]);
  EXPECT_EQ(again->cache_stats().disk_hits, 5);
  EXPECT_EQ(image_decode_count() - before, 3);  // the 3 that were only in memory
  EXPECT_EQ(again->cache_stats().memory_bytes, 0);

  // A damaged cache file is a miss (CRC), never wrong pixels.
  for (const auto& e : fs::directory_iterator(cache.path())) {
    std::vector<uint8_t> b;
    {
      std::ifstream in(e.path(), std::ios::binary);
      b.assign(std::istreambuf_iterator<char>(in), {});
    }
    b[b.size() - 1] ^= 0x5A;
    write_bytes(e.path(), b);
  }
  auto damaged = open_folder(d.str(), o);
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(read_u8(*damaged, i), first[size_t(i)]);
  EXPECT_EQ(damaged->cache_stats().disk_hits, 0);

  // Another policy is another entry.
  o.resize = ResizePolicy::pad;
  auto pad = open_folder(d.str(), o);
  before = image_decode_count();
  read_u8(*pad, 0);
  EXPECT_EQ(image_decode_count() - before, 1);
}

TEST(ImageCache, TrainAndTestPartsShareOneBudget) {
  TempDir d;
  for (const char* part : {"train", "test"})
    for (int i = 0; i < 4; ++i)
      write_mat(d.path() / part / ("c" + std::to_string(i % 2)) / (std::to_string(i) + ".png"),
                random_mat(8, 8, CV_8UC1, unsigned(i)));
  OpenOptions o;
  o.image.memory_budget_bytes = 64 * 5;  // five of the eight 8x8 grey images
  DataSource s = open_dataset(d.str(), o);
  auto tr = std::dynamic_pointer_cast<const ImageFolderDataset>(s.train);
  auto te = std::dynamic_pointer_cast<const ImageFolderDataset>(s.test);
  ASSERT_TRUE(tr && te);
  for (int64_t i = 0; i < 4; ++i) {
    read_u8(*tr, i);
    read_u8(*te, i);
  }
  EXPECT_EQ(tr->cache_stats().memory_bytes + te->cache_stats().memory_bytes, 64 * 5);
  EXPECT_EQ(s.resize, "crop");
}

// ---- loader workers ------------------------------------------------------------

TEST(LoaderWorkers, BatchesAreTheSameWhateverTheWorkerCount) {
  TempDir d;
  for (int i = 0; i < 22; ++i)
    write_mat(d.path() / ("c" + std::to_string(i % 3)) / (std::to_string(i) + ".jpg"),
              random_mat(30 + i, 40, CV_8UC3, unsigned(i)));
  ImageFolderOptions fo;
  fo.height = fo.width = 24;
  auto ds = open_folder(d.str(), fo);
  auto run = [&](int workers, int prefetch) {
    LoaderOptions lo;
    lo.batch_size = 5;
    lo.seed = 3;
    lo.workers = workers;
    lo.prefetch = prefetch;
    lo.augment.hflip = lo.augment.resized_crop = lo.augment.color = true;
    DataLoader l(ds, {}, lo);
    std::vector<float> all;
    std::vector<int64_t> idx;
    for (int e = 0; e < 2; ++e) {
      l.start_epoch(e);
      Batch b;
      while (l.next(b)) {
        auto v = b.images.to_vector();
        all.insert(all.end(), v.begin(), v.end());
        idx.insert(idx.end(), b.indices.begin(), b.indices.end());
      }
    }
    return std::make_pair(all, idx);
  };
  auto one = run(1, 2), four = run(4, 4), sync = run(1, 0);
  EXPECT_EQ(one, four);
  EXPECT_EQ(one, sync);
  EXPECT_EQ(one.second.size(), 44u);
}

// ---- random-resized crop -----------------------------------------------------

TEST(RandomResizedCrop, BoxesFollowTorchvisionsDistribution) {
  AugmentOptions o;
  o.resized_crop = true;
  const int64_t H = 100, W = 160;
  // Reference: torchvision's get_params written out with another generator.
  auto reference = [&](std::mt19937_64& g) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = double(H * W) * (0.08 + 0.92 * u(g));
      const double ratio = std::exp(std::log(0.75) + (std::log(4.0 / 3.0) - std::log(0.75)) * u(g));
      const double w = std::round(std::sqrt(target * ratio)), h = std::round(std::sqrt(target / ratio));
      if (w > 0 && w <= W && h > 0 && h <= H) return w * h / double(H * W);
    }
    return 133.0 * 100.0 / double(H * W);  // in_ratio 1.6 > 4/3: the fallback is 100 x 133
  };
  std::mt19937_64 g(11);
  const int n = 6000;
  double area_sum = 0, ref_sum = 0;
  int small = 0, ref_small = 0;
  for (int i = 0; i < n; ++i) {
    Rng rng = augment_rng(1, 0, i);
    CropBox b = random_resized_crop_box(H, W, o, rng);
    ASSERT_GE(b.x, 0);
    ASSERT_GE(b.y, 0);
    ASSERT_LE(b.x + b.width, W);
    ASSERT_LE(b.y + b.height, H);
    const double frac = double(b.width * b.height) / double(H * W);
    const double ratio = double(b.width) / double(b.height);
    // Rounding to whole pixels moves both a little.
    EXPECT_GE(frac, 0.08 * 0.9);
    EXPECT_LE(frac, 1.0);
    EXPECT_GE(ratio, 0.75 * 0.92);
    EXPECT_LE(ratio, 4.0 / 3.0 * 1.08);
    area_sum += frac;
    small += frac < 0.3;
    const double r = reference(g);
    ref_sum += r;
    ref_small += r < 0.3;
  }
  EXPECT_NEAR(area_sum / n, ref_sum / n, 0.015);
  EXPECT_NEAR(double(small) / n, double(ref_small) / n, 0.03);
  // A ratio range the image cannot hold falls back to the centre crop.
  AugmentOptions tall = o;
  tall.rrc_min_scale = tall.rrc_max_scale = 1.f;
  tall.rrc_min_ratio = tall.rrc_max_ratio = 0.5f;
  Rng rng(5);
  CropBox b = random_resized_crop_box(H, W, tall, rng);
  EXPECT_EQ(b.height, H);
  EXPECT_EQ(b.width, 50);
  EXPECT_EQ(b.x, (W - 50) / 2);
}

TEST(RandomResizedCrop, ResamplesTheBoxAndIsDeterministicPerSeed) {
  const int64_t C = 2, H = 12, W = 16;
  std::vector<float> src(size_t(C * H * W));
  std::mt19937 g(4);
  for (auto& v : src) v = float(g() % 1000) / 1000.f;
  AugmentOptions o;
  o.resized_crop = true;
  std::vector<float> scratch;
  auto apply = [&](uint64_t seed, int64_t epoch, int64_t idx) {
    std::vector<float> img = src;
    Rng rng = augment_rng(seed, epoch, idx);
    augment_image(img.data(), C, H, W, o, NormStats{}, rng, scratch);
    return img;
  };
  EXPECT_EQ(apply(1, 0, 3), apply(1, 0, 3));
  EXPECT_NE(apply(1, 0, 3), apply(2, 0, 3));
  EXPECT_NE(apply(1, 0, 3), apply(1, 1, 3));
  // The output is the drawn box resized bilinearly (OpenCV as the reference).
  Rng rng = augment_rng(1, 0, 3);
  CropBox b = random_resized_crop_box(H, W, o, rng);
  auto got = apply(1, 0, 3);
  for (int64_t c = 0; c < C; ++c) {
    cv::Mat plane(int(H), int(W), CV_32F, src.data() + c * H * W), want;
    cv::resize(plane(cv::Rect(int(b.x), int(b.y), int(b.width), int(b.height))), want, cv::Size(int(W), int(H)), 0, 0,
               cv::INTER_LINEAR);
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        ASSERT_FLOAT_EQ(got[size_t(c * H * W + y * W + x)], want.at<float>(int(y), int(x)));
  }
  // Scale 1 and ratio W/H: the whole image, unchanged.
  o.rrc_min_scale = o.rrc_max_scale = 1.f;
  o.rrc_min_ratio = o.rrc_max_ratio = float(W) / float(H);
  EXPECT_EQ(apply(1, 0, 3), src);
  // JSON round trip and validation.
  AugmentOptions back = AugmentOptions::from_json(o.to_json());
  EXPECT_TRUE(back.resized_crop);
  EXPECT_FLOAT_EQ(back.rrc_min_ratio, float(W) / float(H));
  nlohmann::json j = o.to_json();
  j["resized_crop_scale"] = {0.5, 0.2};
  EXPECT_INPUT_ERROR(AugmentOptions::from_json(j), "augmentation", "resized_crop_scale");
}

// ---- bad images -------------------------------------------------------------

TEST(ImageFolderBad, ACorruptPhotoIsNamedWhenTheLoaderReachesIt) {
  TempDir d;
  for (int i = 0; i < 5; ++i)
    write_mat(d.path() / "a" / (std::to_string(i) + ".jpg"), random_mat(40, 50, CV_8UC3, unsigned(i)));
  write_bytes(d.path() / "a" / "2 bad photo.png", corrupt_png(50, 40));
  write_bytes(d.path() / "a" / "not really.jpg", {'G', 'I', 'F', '8', '9', 'a'});
  ImageFolderReport r;
  ImageFolderOptions fo;
  fo.height = fo.width = 16;
  auto ds = open_folder(d.str(), fo, &r);
  EXPECT_EQ(r.skipped_unreadable, 1);  // "not really.jpg": no image header
  EXPECT_EQ(ds->size(), 6);
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.workers = 2;
  DataLoader l(ds, {}, lo);
  l.start_epoch(0);
  Batch b;
  try {
    while (l.next(b)) {}
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("2 bad photo.png"), std::string::npos) << e.what();
  }
}
