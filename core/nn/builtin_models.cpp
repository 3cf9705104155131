// The built-in architectures, as specs (so the GUI can show and edit them).
#include <algorithm>

#include "core/nn/builtin_torchvision.h"
#include "core/nn/model.h"
#include "core/tensor/error.h"

namespace perceptra {

using nlohmann::json;

namespace {

json conv(int out, int kernel, int stride, int padding, bool bias = true, const char* init = nullptr) {
  json j = {{"type", "conv2d"}, {"out_channels", out}, {"kernel", kernel}};
  if (stride != 1) j["stride"] = stride;
  if (padding) j["padding"] = padding;
  if (!bias) j["bias"] = false;
  if (init) j["init"] = init;
  return j;
}
json layer(const char* type) { return {{"type", type}}; }
json linear(int out) { return {{"type", "linear"}, {"out_features", out}}; }
json maxpool(int k) { return {{"type", "maxpool2d"}, {"kernel", k}}; }

void require_image(const std::string& name, const Shape& input) {
  if (input.rank() != 3)
    throw InputError("model '" + name + "'",
                     "needs image inputs [channels, height, width] but the data is " + input.str());
}

// A CIFAR-style basic block (He et al. 2016): conv3x3-BN-ReLU-conv3x3-BN,
// shortcut (projection when the shape changes), ReLU. Convs use
// kaiming_normal(fan_out) as torchvision's ResNets do.
json basic_block(int channels, int stride) {
  return {{"type", "residual"},
          {"layers",
           {conv(channels, 3, stride, 1, false, "kaiming_normal"), layer("batchnorm2d"), layer("relu"),
            conv(channels, 3, 1, 1, false, "kaiming_normal"), layer("batchnorm2d")}},
          {"activation", "relu"}};
}

}  // namespace

std::vector<std::string> Model::builtin_names() {
  std::vector<std::string> names = {"mlp", "lenet5", "simplecnn", "resnet-small"};
  for (const auto& n : torchvision_builtin_names()) names.push_back(n);
  return names;
}

json Model::builtin_spec(const std::string& name, const Shape& input, int classes) {
  json layers = json::array();
  if (name == "mlp") {
    layers = {layer("flatten"), linear(512), layer("relu"), linear(256), layer("relu"), linear(classes)};
  } else if (name == "lenet5") {
    require_image(name, input);
    // Classic LeNet-5 takes 32x32; smaller inputs (28x28 MNIST) get padding 2
    // on the first conv so the feature maps keep the classic sizes.
    int pad = std::min(input[1], input[2]) < 32 ? 2 : 0;
    layers = {conv(6, 5, 1, pad), layer("relu"), maxpool(2),    conv(16, 5, 1, 0), layer("relu"), maxpool(2),
              layer("flatten"),   linear(120),   layer("relu"), linear(84),        layer("relu"), linear(classes)};
  } else if (name == "simplecnn") {
    require_image(name, input);
    layers = {conv(32, 3, 1, 1), layer("relu"),    maxpool(2),  conv(64, 3, 1, 1), layer("relu"),
              maxpool(2),        layer("flatten"), linear(128), layer("relu"),     linear(classes)};
  } else if (name == "resnet-small") {
    require_image(name, input);
    // Stem, then 3 stages (16, 32, 64 channels) of 2 basic blocks each; the
    // first block of stages 2 and 3 halves the plane (ResNet-14, CIFAR style).
    layers = {conv(16, 3, 1, 1, false, "kaiming_normal"), layer("batchnorm2d"), layer("relu")};
    int stage = 0;
    for (int channels : {16, 32, 64}) {
      for (int b = 0; b < 2; ++b) layers.push_back(basic_block(channels, stage && !b ? 2 : 1));
      ++stage;
    }
    layers.push_back(layer("global_avgpool"));
    layers.push_back(linear(classes));
  } else if (std::find(torchvision_builtin_names().begin(), torchvision_builtin_names().end(), name) !=
             torchvision_builtin_names().end()) {
    layers = torchvision_builtin_layers(name, input, classes);
  } else {
    std::string known;
    for (const auto& n : builtin_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError("model", "unknown built-in model '" + name + "' (known: " + known + ")");
  }
  return {{"name", name}, {"input", input.dims()}, {"classes", classes}, {"layers", layers}};
}

}  // namespace perceptra
