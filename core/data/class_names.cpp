#include "core/data/class_names.h"

#include <filesystem>
#include <fstream>

#include "core/tensor/error.h"

namespace perceptra {

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

const std::vector<std::string>& cifar10_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

std::vector<std::string> numbered_class_names(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(std::to_string(i));
  return out;
}

std::vector<std::string> read_class_names_file(const std::string& path) {
  std::ifstream in{std::filesystem::path(path)};
  if (!in) throw InputError(path, "cannot open class-name file");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) throw InputError(path, "class-name file lists no classes");
  return names;
}

}  // namespace perceptra
