#include "core/io/weights.h"

#include "core/tensor/error.h"
#include "core/tensor/random.h"

namespace perceptra {

std::vector<tensor_file::TensorRef> weight_refs(Model& model) {
  std::vector<tensor_file::TensorRef> refs;
  for (Parameter* p : model.parameters()) refs.push_back({p->name, "weights", p->value});
  return refs;
}

std::unique_ptr<Model> build_from_spec(const nlohmann::json& spec, const std::string& path, Device device) {
  Rng rng(0);  // every tensor is overwritten from the file
  try {
    return Model::from_spec(spec, rng, device);
  } catch (const InputError& e) {
    throw InputError(path, "stored model spec is invalid: " + std::string(e.what()));
  }
}

void copy_weights(const tensor_file::Contents& c, Model& model, const std::string& path) {
  std::vector<const tensor_file::StoredTensor*> stored;
  for (const auto& t : c.tensors)
    if (t.section == "weights") stored.push_back(&t);
  auto params = model.parameters();
  if (stored.size() != params.size())
    throw InputError(path, "file holds " + std::to_string(stored.size()) + " weight tensors but its model spec has " +
                               std::to_string(params.size()));
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& s = *stored[i];
    Parameter& p = *params[i];
    if (s.is_int8)
      throw InputError(path, "weight tensor '" + s.name +
                                 "' is int8: this is a quantised model "
                                 "(load it with load_any_model, core/quant/quantized_file.h)");
    if (s.name != p.name || s.shape != p.value.shape())
      throw InputError(path, "weight tensor " + std::to_string(i) + " is '" + s.name + "' " + s.shape.str() +
                                 " but the model built from the spec expects '" + p.name + "' " +
                                 p.value.shape().str());
  }
  for (size_t i = 0; i < params.size(); ++i)
    params[i]->value.copy_from(Tensor::from_vector(stored[i]->shape, stored[i]->values));
}

}  // namespace perceptra
