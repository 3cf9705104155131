#pragma once
// A restricted unpickler for torch.save's data.pkl: enough of pickle
// protocols 2-5 for state dicts, and nothing that can run code. The only
// globals it accepts are the ones a state dict uses (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and the
// torch.*Storage types); any other global is refused by name before anything
// is called. Stack, memo, nesting depth and string sizes are bounded.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perceptra::import {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

// A tensor as _rebuild_tensor_v2 describes it: a view into a storage.
struct TensorRef {
  std::string storage_key;    // "0" -> archive/data/0
  std::string dtype;          // "Float", "Half", "Long", ...
  int64_t storage_numel = 0;  // elements the persistent id declares
  int64_t offset = 0;
  std::vector<int64_t> size, stride;
};

struct PyValue {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Storage, Tensor };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0;
  std::string s;                              // Str/Bytes; Global "module.name"; Storage dtype
  std::vector<PyRef> items;                   // Tuple/List
  std::vector<std::pair<PyRef, PyRef>> dict;  // Dict in insertion order
  TensorRef tensor;
  int depth = 1;        // nesting depth (bounded)
  bool nested = false;  // already inside a container
};

// Runs the pickle in `data`; where names it in errors ("model.pth: data.pkl").
PyRef unpickle_torch(std::string_view data, const std::string& where);

}  // namespace perceptra::import
