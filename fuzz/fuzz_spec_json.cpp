// Model spec JSON as the studio and `train --model FILE` read it: bounded
// parse, analyze (the model panel) and build (within a parameter budget, as
// a loader sets it, so the fuzzer's memory limit is not the finding).
#include <cstdint>
#include <string_view>

#include "core/nn/layer_util.h"
#include "core/nn/model.h"
#include "core/tensor/bounded_json.h"
#include "core/tensor/error.h"
#include "core/tensor/random.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    nlohmann::json spec = perceptra::parse_json_bounded(text, "fuzz");
    perceptra::ParameterBudget budget(int64_t(1) << 22);
    try {
      perceptra::Model::analyze(spec);
    } catch (const perceptra::InputError&) {}
    perceptra::Rng rng(0);
    auto model = perceptra::Model::from_spec(spec, rng);
    (void)model->spec().dump();
  } catch (const perceptra::InputError&) {}
  return 0;
}
