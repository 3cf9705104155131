#pragma once
// `perceptra-cli import`: a network from another framework's file as a
// Model with its metadata, ready for save_model.
//   .onnx                  the graph is mapped onto engine layers
//   .pth / .pt             a torch.save'd state dict (read without Python)
//   .safetensors           named raw tensors
// State dicts carry no architecture: `arch` names the torchvision model whose
// parameter names and shapes they follow (resnet18, resnet34, mobilenet_v2);
// the tensors are matched in order, name suffix and shape, and any mismatch
// is an InputError naming the tensor.
#include <memory>
#include <string>
#include <vector>

#include "core/io/model_file.h"

namespace perceptra {

struct ImportOptions {
  std::string arch;              // required for state dicts
  std::vector<int64_t> input;    // [C, H, W]; empty: the file's, or 3x224x224
  std::vector<float> mean, std;  // empty: from the file, else ImageNet's for 3 channels
  int classes = 0;               // 0: from the file; else must agree with it
  std::vector<std::string> class_names;
};

struct ImportedModel {
  std::unique_ptr<Model> model;
  ModelMeta meta;
  std::string format;              // "onnx", "pytorch state dict", "safetensors"
  std::vector<std::string> notes;  // what was assumed (printed by the CLI)
};

ImportedModel import_model(const std::string& path, const ImportOptions& options);

// torchvision's ImageNet normalisation.
const std::vector<float>& imagenet_mean();
const std::vector<float>& imagenet_std();

}  // namespace perceptra
