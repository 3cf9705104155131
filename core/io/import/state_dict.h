#pragma once
// Named tensors read from a weights file (.pth/.pt, .safetensors), in file
// order, converted to float32. Integer tensors (BatchNorm's
// num_batches_tracked) are kept but flagged, so mapping can skip them.
#include <cstdint>
#include <string>
#include <vector>

namespace perceptra::import {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
  bool floating = true;  // stored as a floating-point type
};
using StateDict = std::vector<NamedTensor>;

// A shape as "[64, 3, 7, 7]".
std::string shape_str(const std::vector<int64_t>& shape);

// torch.save'd state dict (zip + restricted pickle). Plain state dicts and
// checkpoints holding one under "state_dict" or "model" are accepted.
StateDict read_torch_state_dict(const std::string& path);
// .safetensors: 8-byte header length, JSON header, raw little-endian data.
StateDict read_safetensors(const std::string& path);

}  // namespace perceptra::import
