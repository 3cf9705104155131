#pragma once
// A float model file quantised on a dataset, and the int8 file written: the
// one path `perceptra-cli quantize` and the studio's Export panel share, so
// the two produce the same int8 model from the same choices.
#include <memory>
#include <string>
#include <vector>

#include "core/quant/ptq_data.h"

namespace perceptra::quant {

struct Int8Export {
  LoadedModel model;  // the float model; the plan refers to its layers
  PtqResult result;   // the plan and the diff report
  std::string float_path;
};

// Loads `model_path` (a float model), prepares the images (ptq_data.h),
// quantises and fills the report's data, split and float file fields.
// Throws InputError naming the file, the data or the option; PtqCancelled
// when options.cancelled says so.
Int8Export quantize_model_file(const std::string& model_path, const DataSource& source, const std::string& data_name,
                               const PtqDataOptions& data_options, PtqOptions options);
// The same with the model already loaded from `model_path`.
Int8Export quantize_model_file(LoadedModel model, const std::string& model_path, const DataSource& source,
                               const std::string& data_name, const PtqDataOptions& data_options, PtqOptions options);

// Writes the int8 .pmodel with the report, which records the written file's
// own size (written, measured, written again). The file is complete or
// absent: it is written to a temporary name next to `path` and renamed.
void write_int8_model(const std::string& path, Int8Export& q);

// A flipped evaluation image of a report: the image as stored in the
// dataset (values in [0,1], [C,H,W]) with its label and both predictions.
struct FlippedImage {
  int64_t index = 0;  // in the evaluation split
  int label = 0, float_pred = 0, int8_pred = 0;
  Shape shape;
  std::vector<float> pixels;
};
// The report's "flipped" entries (at most `limit`, 0: all) with their
// pixels from `eval` (evaluation_split of the data quantised on). Throws
// InputError when an index is outside the dataset (a report from other data).
std::vector<FlippedImage> load_flipped_images(const nlohmann::json& report, const Dataset& eval, size_t limit = 0);

}  // namespace perceptra::quant
