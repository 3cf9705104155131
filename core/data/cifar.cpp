#include "core/data/cifar.h"

#include <algorithm>
#include <filesystem>

#include "core/data/class_names.h"
#include "core/data/file_bytes.h"
#include "core/tensor/error.h"

namespace perceptra {

namespace fs = std::filesystem;

std::shared_ptr<MemoryDataset> load_cifar10(const std::vector<std::string>& batch_files,
                                            std::vector<std::string> class_names, const std::string& source) {
  constexpr size_t kPixels = 3 * 32 * 32, kRecord = kPixels + 1;
  if (class_names.empty()) class_names = cifar10_class_names();
  if (batch_files.empty()) throw InputError(source, "no CIFAR-10 batch files given");
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  for (const std::string& path : batch_files) {
    std::vector<uint8_t> b = data::read_file_bytes(path);
    if (b.empty()) throw InputError(path, "empty file, expected CIFAR-10 records");
    if (b.size() % kRecord != 0)
      throw InputError(path, "truncated or not a CIFAR-10 batch: " + std::to_string(b.size()) +
                                 " bytes is not a whole number of 3073-byte records");
    size_t n = b.size() / kRecord;
    size_t base = pixels.size();
    pixels.resize(base + n * kPixels);
    for (size_t i = 0; i < n; ++i) {
      int l = b[i * kRecord];
      if (l >= int(class_names.size()))
        throw InputError(path, "label " + std::to_string(l) + " at record " + std::to_string(i) +
                                   " is out of range for " + std::to_string(class_names.size()) + " classes");
      labels.push_back(l);
      std::copy_n(b.data() + i * kRecord + 1, kPixels, pixels.data() + base + i * kPixels);
    }
  }
  return std::make_shared<MemoryDataset>(source, Shape{3, 32, 32}, std::move(class_names), std::move(pixels),
                                         std::move(labels));
}

bool find_cifar_layout(const std::string& dir_in, CifarLayout* out) {
  std::error_code ec;
  fs::path dir = fs::path(dir_in);
  if (fs::is_directory(dir / "cifar-10-batches-bin", ec)) dir /= "cifar-10-batches-bin";
  if (!fs::is_directory(dir, ec)) return false;
  CifarLayout l;
  l.dir = dir.string();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("data_batch_", 0) == 0 && e.path().extension() == ".bin")
      l.train_files.push_back(e.path().string());
    else if (name == "test_batch.bin")
      l.test_file = e.path().string();
    else if (name == "batches.meta.txt")
      l.meta_file = e.path().string();
  }
  if (l.train_files.empty() && l.test_file.empty()) return false;
  std::sort(l.train_files.begin(), l.train_files.end());
  if (out) *out = std::move(l);
  return true;
}

}  // namespace perceptra
