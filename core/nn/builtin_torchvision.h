#pragma once
// The ImageNet-style built-ins laid out exactly as torchvision's models
// (resnet18, resnet34, mobilenet_v2): same layers, same parameter shapes, and
// Model::parameters() in the same order as their state_dict() (minus
// BatchNorm's num_batches_tracked), which is what state-dict import relies on.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor/shape.h"

namespace perceptra {

const std::vector<std::string>& torchvision_builtin_names();
// The layer list of one of them for per-sample input [C, H, W]; throws
// InputError when the input is not an image.
nlohmann::json torchvision_builtin_layers(const std::string& name, const Shape& input, int classes);

}  // namespace perceptra
