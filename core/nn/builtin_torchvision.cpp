// torchvision's resnet18/resnet34 (He et al. 2016, basic blocks) and
// mobilenet_v2 (Sandler et al. 2018) as layer specs. Any input from 32x32 up
// works: every plane change is a strided conv or pool and the head is global
// average pooling.
#include "core/nn/builtin_torchvision.h"

#include "core/tensor/error.h"

namespace perceptra {

using nlohmann::json;

namespace {

// Convs without bias, kaiming_normal(fan_out) as torchvision initialises them.
json conv(int out, int kernel, int stride, int padding, int groups = 1) {
  json j = {{"type", "conv2d"}, {"out_channels", out}, {"kernel", kernel}, {"bias", false}, {"init", "kaiming_normal"}};
  if (stride != 1) j["stride"] = stride;
  if (padding) j["padding"] = padding;
  if (groups != 1) j["groups"] = groups;
  return j;
}
json layer(const char* type) { return {{"type", type}}; }

// torchvision BasicBlock: conv3x3(stride)-BN-ReLU-conv3x3-BN, + shortcut
// (1x1 conv stride + BN when the shape changes: our residual's projection),
// ReLU.
json basic_block(int channels, int stride) {
  return {{"type", "residual"},
          {"layers",
           {conv(channels, 3, stride, 1), layer("batchnorm2d"), layer("relu"), conv(channels, 3, 1, 1),
            layer("batchnorm2d")}},
          {"activation", "relu"}};
}

json resnet(const std::vector<int>& blocks, int classes) {
  json layers = {conv(64, 7, 2, 3),
                 layer("batchnorm2d"),
                 layer("relu"),
                 {{"type", "maxpool2d"}, {"kernel", 3}, {"stride", 2}, {"padding", 1}}};
  int channels = 64;
  for (size_t stage = 0; stage < blocks.size(); ++stage, channels *= 2)
    for (int b = 0; b < blocks[stage]; ++b) layers.push_back(basic_block(channels, stage > 0 && b == 0 ? 2 : 1));
  layers.push_back(layer("global_avgpool"));
  layers.push_back({{"type", "linear"}, {"out_features", classes}});
  return layers;
}

// Conv-BN-ReLU6 (torchvision's Conv2dNormActivation with ReLU6).
void conv_bn_relu6(json& out, int channels, int kernel, int stride, int groups) {
  out.push_back(conv(channels, kernel, stride, (kernel - 1) / 2, groups));
  out.push_back(layer("batchnorm2d"));
  out.push_back(layer("relu6"));
}

json mobilenet_v2(int classes) {
  json layers = json::array();
  conv_bn_relu6(layers, 32, 3, 2, 1);
  // (expansion t, channels c, repeats n, first stride s), as in the paper's table 2.
  const int setting[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  int in = 32;
  for (const auto& s : setting)
    for (int i = 0; i < s[2]; ++i) {
      const int stride = i == 0 ? s[3] : 1, out = s[1], hidden = in * s[0];
      // Inverted residual: expand 1x1 (when t > 1), depthwise 3x3, linear
      // bottleneck 1x1 + BN (no activation).
      json block = json::array();
      if (s[0] != 1) conv_bn_relu6(block, hidden, 1, 1, 1);
      conv_bn_relu6(block, hidden, 3, stride, hidden);
      block.push_back(conv(out, 1, 1, 0));
      block.push_back(layer("batchnorm2d"));
      if (stride == 1 && in == out) {
        layers.push_back({{"type", "residual"}, {"layers", block}, {"shortcut", "identity"}, {"activation", "none"}});
      } else {
        for (auto& l : block) layers.push_back(l);
      }
      in = out;
    }
  conv_bn_relu6(layers, 1280, 1, 1, 1);
  layers.push_back(layer("global_avgpool"));
  layers.push_back({{"type", "dropout"}, {"p", 0.2}});
  layers.push_back({{"type", "linear"}, {"out_features", classes}});
  return layers;
}

}  // namespace

const std::vector<std::string>& torchvision_builtin_names() {
  static const std::vector<std::string> names = {"resnet18", "resnet34", "mobilenet_v2"};
  return names;
}

json torchvision_builtin_layers(const std::string& name, const Shape& input, int classes) {
  if (input.rank() != 3)
    throw InputError("model '" + name + "'",
                     "needs image inputs [channels, height, width] but the data is " + input.str());
  if (name == "resnet18") return resnet({2, 2, 2, 2}, classes);
  if (name == "resnet34") return resnet({3, 4, 6, 3}, classes);
  if (name == "mobilenet_v2") return mobilenet_v2(classes);
  throw InputError("model", "'" + name + "' is not a torchvision built-in");
}

}  // namespace perceptra
