#pragma once
// Small data fixtures written into a fresh temporary folder per test.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace perceptra::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string str(const std::string& rel = "") const;

 private:
  std::filesystem::path path_;
};

void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> gzip_bytes(const std::vector<uint8_t>& raw);

// IDX files: images [n,h,w] with pixel(i,y,x) = (i*7 + y*3 + x) & 255,
// labels[i] = i % classes.
std::vector<uint8_t> idx_images(int n, int h, int w);
std::vector<uint8_t> idx_labels(int n, int classes);
std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels);

// CIFAR-10 batch of n records: label i % 10, pixel bytes (i + k) & 255.
std::vector<uint8_t> cifar_batch(int n);

// Writes a w x h image; channels 1 (gray value v) or 3 (B=v, G=v/2, R=255-v).
void write_image(const std::filesystem::path& p, int w, int h, int channels, int v);

// A w x h PNG whose header is valid but whose image data is garbage: it
// passes the header check when a folder is opened and fails when decoded.
std::vector<uint8_t> corrupt_png(int w, int h);

}  // namespace perceptra::test

// Expects `stmt` to throw perceptra::InputError whose message contains both
// substrings (the file and the problem).
#define EXPECT_INPUT_ERROR(stmt, where_part, problem_part)                                                      \
  do {                                                                                                          \
    try {                                                                                                       \
      stmt;                                                                                                     \
      ADD_FAILURE() << "expected InputError from " #stmt;                                                       \
    } catch (const ::perceptra::InputError& input_error_) {                                                     \
      EXPECT_NE(std::string(input_error_.what()).find(where_part), std::string::npos) << input_error_.what();   \
      EXPECT_NE(std::string(input_error_.what()).find(problem_part), std::string::npos) << input_error_.what(); \
    }                                                                                                           \
  } while (0)
