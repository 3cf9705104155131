#pragma once
// The images post-training quantisation works on, drawn from a dataset the
// same way by `perceptra-cli quantize` and the studio's Export panel:
//   calibration  N evenly spaced training images (activation ranges);
//   held-out     M further training images, none of them a calibration
//                image: per-layer sensitivity and the automatic fallback are
//                decided on these, never on the test split that the report's
//                accuracy is measured on (choosing layers on the test set
//                would fit the choice to it);
//   evaluation   the official test split (the first K with eval_images),
//                or all images when the data has none.
// All images are normalised with the model's statistics (ModelMeta).
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/resolve.h"
#include "core/io/model_file.h"
#include "core/quant/post_training.h"

namespace perceptra::quant {

struct PtqDataOptions {
  int64_t calibration = 512;
  int64_t holdout = 2000;   // 0: sensitivity on the evaluation images (legacy)
  int64_t eval_images = 0;  // 0: the whole evaluation split
};

struct PtqData {
  Tensor calibration;
  LabeledImages holdout;  // empty when options.holdout is 0
  LabeledImages eval;
  std::string eval_split;                                     // "test" or "all images"
  std::vector<int64_t> calibration_indices, holdout_indices;  // into the training split
};

// Images `indices` of `data` as one [N, C, H, W] tensor, normalised with
// meta.mean/std.
Tensor load_normalised(const Dataset& data, const std::vector<int64_t>& indices, const ModelMeta& meta);

// Throws InputError naming `data_name` when the data does not fit the model
// (class count, image shape) or has no training images.
PtqData prepare_ptq_data(const DataSource& source, const std::string& data_name, const Model& model,
                         const ModelMeta& meta, const PtqDataOptions& options);

// The dataset the report's "flipped" indices refer to.
const Dataset& evaluation_split(const DataSource& source);

}  // namespace perceptra::quant
