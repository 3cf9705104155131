#pragma once
// Class names of the well-known datasets and of class-name files.
#include <string>
#include <vector>

namespace perceptra {

const std::vector<std::string>& fashion_mnist_class_names();  // T-shirt/top, Trouser, ...
const std::vector<std::string>& cifar10_class_names();        // airplane, automobile, ...
std::vector<std::string> numbered_class_names(int n);         // "0", "1", ...

// One name per line; blank lines and trailing whitespace/CR ignored.
// Throws InputError naming the file when it is unreadable or empty.
std::vector<std::string> read_class_names_file(const std::string& path);

}  // namespace perceptra
