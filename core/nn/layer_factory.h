#pragma once
// Building layers from their JSON spec with shape inference: a layer's input
// size (in_features, in_channels) comes from the shape flowing into it.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/nn/layer.h"

namespace perceptra {

// Builds one layer for the batched input shape `input` ([1, C, H, W] or
// [1, F]). Throws InputError(where, ...) for bad fields, unknown types and
// inputs the layer cannot take. `where` reads "layer 3 (conv2d)".
LayerPtr make_layer(const nlohmann::json& spec, const Shape& input, const std::string& where);

// "layer 3 (conv2d)" for the spec of layer `index` (type read leniently).
std::string layer_where(int index, const nlohmann::json& spec);

// Every layer type the factory knows, in the order a GUI palette lists them.
const std::vector<std::string>& layer_types();
// Short prefix of default names: "conv" for conv2d, "fc" for linear, "bn"...
std::string default_name_prefix(const std::string& type);
// A layer's spec: {"type": ..., args...} (plus "name" when given).
nlohmann::json layer_spec(const Layer& layer, const std::string& custom_name = "");

// Validates a user-given layer name (letters, digits, '_' and '-').
bool valid_layer_name(const std::string& name);

// Gives `layer` the full name `full` ("res4.conv0"), its children
// "<full>.<local>" and its parameters "<full>.<local param>" ("conv0.weight").
void assign_names(Layer& layer, const std::string& full);

}  // namespace perceptra
