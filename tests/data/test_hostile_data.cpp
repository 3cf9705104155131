// Hostile data files (issue 18): gzip bombs, IDX headers whose dimensions
// overflow, image headers declaring huge sizes and FIFOs are refused before
// the allocation or the hang, with the file and the limit named.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "core/data/file_bytes.h"
#include "core/data/idx.h"
#include "core/data/image_folder.h"
#include "core/data/input_limits.h"
#include "core/tensor/error.h"

namespace fs = std::filesystem;
using namespace perceptra;

namespace {

struct Dir {
  fs::path path;
  Dir() {
    path = fs::temp_directory_path() / ("perceptra-hostile-data-" + std::to_string(getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Dir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

// gzip of `header` followed by `zeros` zero bytes, streamed (fast: level 1).
std::string gzip_zeros(const std::string& header, uint64_t zeros) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out;
  std::vector<uint8_t> chunk(1 << 20, 0), buf(1 << 16);
  auto pump = [&](const uint8_t* p, size_t n, int flush) {
    zs.next_in = const_cast<Bytef*>(p);
    zs.avail_in = uInt(n);
    do {
      zs.next_out = buf.data();
      zs.avail_out = uInt(buf.size());
      deflate(&zs, flush);
      out.append(reinterpret_cast<char*>(buf.data()), buf.size() - zs.avail_out);
    } while (zs.avail_out == 0);
  };
  pump(reinterpret_cast<const uint8_t*>(header.data()), header.size(), Z_NO_FLUSH);
  for (uint64_t left = zeros; left > 0;) {
    size_t n = size_t(std::min<uint64_t>(left, chunk.size()));
    pump(chunk.data(), n, Z_NO_FLUSH);
    left -= n;
  }
  pump(nullptr, 0, Z_FINISH);
  deflateEnd(&zs);
  return out;
}

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }

}  // namespace

// Item 6: a 1.4 MB gzip IDX inflated to 3.5 GB before being refused.
TEST(HostileData, GzipInflationIsCappedAndNamed) {
  Dir d;
  EXPECT_EQ(data::input_limits().max_inflated_bytes, uint64_t(512) << 20);  // the default
  // The limit is configurable; a small one keeps the test fast.
  struct Restore {
    uint64_t saved = data::input_limits().max_inflated_bytes;
    ~Restore() { data::input_limits().max_inflated_bytes = saved; }
  } restore;
  const uint64_t limit = uint64_t(4) << 20;
  data::input_limits().max_inflated_bytes = limit;
  const std::string header = std::string("\0\0\x08\x03", 4) + be32(1u << 30) + be32(1) + be32(1);
  const std::string bomb = gzip_zeros(header, limit + (1 << 20));
  EXPECT_LT(bomb.size(), 64u << 10);  // a small file...
  write(d.file("bomb-idx3-ubyte.gz"), bomb);
  std::string e = error_of([&] { data::read_file_bytes(d.file("bomb-idx3-ubyte.gz")); });
  EXPECT_NE(e.find("bomb-idx3-ubyte.gz"), std::string::npos) << e;  // ...refused, naming file and limit
  EXPECT_NE(e.find("PERCEPTRA_MAX_INFLATED_MB"), std::string::npos) << e;
  // Below the limit it still inflates.
  write(d.file("small.gz"), gzip_zeros("x", 1000));
  EXPECT_EQ(data::read_file_bytes(d.file("small.gz")).size(), 1001u);
}

// Item 6: three u32 dimensions overflow int64 (UB) before the size check.
TEST(HostileData, IdxDimensionsCannotOverflow) {
  Dir d;
  write(d.file("img"), std::string("\0\0\x08\x03", 4) + be32(0xFFFFFFFFu) + be32(0xFFFFFFFFu) + be32(0xFFFFFFFFu) +
                           std::string(64, '\0'));
  write(d.file("lbl"), std::string("\0\0\x08\x01", 4) + be32(1) + std::string(1, '\0'));
  std::string e = error_of([&] { load_idx(d.file("img"), d.file("lbl")); });
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

// Item 7: a 20000x20000 PNG header (426 KB) set every image to that size.
TEST(HostileData, ImageHeaderDimensionsAreCheckedBeforeDecoding) {
  Dir d;
  std::string png("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16);
  png += be32(20000) + be32(20000) + std::string("\x08\x02\0\0\0", 5) + std::string(4, '\0');
  write(d.file("huge.png"), png);
  std::vector<float> px(3 * 4 * 4);
  std::string e = error_of([&] { decode_image_file(d.file("huge.png"), 3, 4, 4, px.data()); });
  EXPECT_NE(e.find("huge.png"), std::string::npos) << e;
  EXPECT_NE(e.find("20000x20000"), std::string::npos) << e;
  EXPECT_NE(e.find("PERCEPTRA_MAX_IMAGE_PIXELS"), std::string::npos) << e;

  data::ImageSize s;
  // JPEG SOF0 after an APP0 segment; BMP; GIF.
  std::string jpg("\xff\xd8\xff\xe0\0\x04\0\0\xff\xc0\0\x11\x08\x01\x02\x03\x04", 17);
  ASSERT_TRUE(data::peek_image_size(reinterpret_cast<const uint8_t*>(jpg.data()), jpg.size(), &s));
  EXPECT_EQ(s.height, 0x0102);
  EXPECT_EQ(s.width, 0x0304);
  std::string gif = std::string("GIF89a") + std::string("\x10\x00\x20\x00", 4);
  ASSERT_TRUE(data::peek_image_size(reinterpret_cast<const uint8_t*>(gif.data()), gif.size(), &s));
  EXPECT_EQ(s.width, 16);
  EXPECT_EQ(s.height, 32);
}

// Item 7: reading a FIFO (as IDX or as an image) blocked forever.
TEST(HostileData, FifosAreRefusedWithoutBlocking) {
  Dir d;
  ASSERT_EQ(mkfifo(d.file("pipe").c_str(), 0644), 0);
  std::atomic<bool> done{false};
  std::string e1, e2;
  std::thread t([&] {
    e1 = error_of([&] { data::read_file_bytes(d.file("pipe")); });
    std::vector<float> px(12);
    e2 = error_of([&] { decode_image_file(d.file("pipe"), 3, 2, 2, px.data()); });
    done = true;
  });
  for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!done) {
    t.detach();
    FAIL() << "reading a FIFO blocked";
  }
  t.join();
  EXPECT_NE(e1.find("FIFO"), std::string::npos) << e1;
  EXPECT_NE(e2.find("FIFO"), std::string::npos) << e2;
}
