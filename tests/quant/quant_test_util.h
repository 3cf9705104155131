#pragma once
// Shared by the int8 tests: real Fashion-MNIST images (the committed
// 32-image fixture), models with non-trivial BatchNorm statistics.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/io/model_file.h"
#include "core/nn/model.h"
#include "core/tensor/random.h"

namespace perceptra::quanttest {

constexpr int kImages = 32;

// tests/fixtures/io/fashion_batch.bin: 32 test images 28x28 u8, 32 labels.
inline Tensor fashion_images(std::vector<int>* labels = nullptr) {
  std::ifstream in(std::string(PERCEPTRA_FIXTURES_DIR) + "/io/fashion_batch.bin", std::ios::binary);
  std::string b(std::istreambuf_iterator<char>(in), {});
  std::vector<float> v(size_t(kImages * 784));
  for (size_t i = 0; i < v.size() && i < b.size(); ++i) v[i] = (float(uint8_t(b[i])) / 255.f - 0.2860f) / 0.3530f;
  if (labels)
    for (int i = 0; i < kImages; ++i) labels->push_back(int(uint8_t(b[size_t(kImages * 784 + i)])));
  return Tensor::from_vector(Shape{kImages, 1, 28, 28}, v);
}

inline ModelMeta fashion_meta() {
  ModelMeta m;
  m.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  m.mean = {0.2860f};
  m.std = {0.3530f};
  return m;
}

// A built-in with BatchNorm running statistics moved off (0, 1) by a few
// training-mode passes, so folding them matters.
inline std::unique_ptr<Model> make_model(const std::string& name, uint64_t seed = 1) {
  Rng rng(seed);
  auto m = Model::from_spec(Model::builtin_spec(name, Shape{1, 28, 28}, 10), rng);
  Tensor x = fashion_images();
  for (int i = 0; i < 3; ++i) m->forward(x, true);
  return m;
}

}  // namespace perceptra::quanttest
