#include "core/quant/int8_export.h"

#include <sys/stat.h>

#include "core/quant/quantized_file.h"
#include "core/tensor/error.h"

namespace perceptra::quant {

namespace {
uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}
}  // namespace

Int8Export quantize_model_file(const std::string& model_path, const DataSource& source, const std::string& data_name,
                               const PtqDataOptions& data_options, PtqOptions options) {
  return quantize_model_file(load_model(model_path), model_path, source, data_name, data_options, std::move(options));
}

Int8Export quantize_model_file(LoadedModel model, const std::string& model_path, const DataSource& source,
                               const std::string& data_name, const PtqDataOptions& data_options, PtqOptions options) {
  Int8Export q;
  q.float_path = model_path;
  q.model = std::move(model);
  PtqData data = prepare_ptq_data(source, data_name, *q.model.model, q.model.meta, data_options);
  if (!data.holdout.labels.empty()) options.sensitivity_data = &data.holdout;
  const auto& names = q.model.meta.class_names.empty() ? source.class_names : q.model.meta.class_names;
  q.result = quantize_post_training(*q.model.model, data.calibration, &data.eval, options, names);
  nlohmann::json& r = q.result.report;
  r["data"] = data_name;
  r["eval_split"] = data.eval_split;
  if (!data.holdout.labels.empty()) r["holdout_images"] = data.holdout.labels.size();
  r["float_model"] = model_path;
  r["float_file_bytes"] = file_size(model_path);
  return q;
}

void write_int8_model(const std::string& path, Int8Export& q) {
  // The report holds the int8 file's own size: write, measure, write again
  // (the size's digits can change the size once; the loop settles).
  nlohmann::json& r = q.result.report;
  r.erase("int8_file_bytes");
  for (int i = 0; i < 3; ++i) {
    save_quantized_model(path, *q.result.qmodel, q.model.meta, r);
    const uint64_t size = file_size(path);
    if (r.value("int8_file_bytes", uint64_t(0)) == size) break;
    r["int8_file_bytes"] = size;
  }
}

std::vector<FlippedImage> load_flipped_images(const nlohmann::json& report, const Dataset& eval, size_t limit) {
  std::vector<FlippedImage> out;
  if (!report.contains("flipped") || !report["flipped"].is_array()) return out;
  const Shape s = eval.sample_shape();
  for (const auto& f : report["flipped"]) {
    if (limit && out.size() >= limit) break;
    FlippedImage im;
    im.index = f.value("index", int64_t(-1));
    if (im.index < 0 || im.index >= eval.size())
      throw InputError(eval.source(), "has " + std::to_string(eval.size()) + " images but the report's flipped image " +
                                          std::to_string(im.index) + " is outside them (a report from other data?)");
    im.label = f.value("label", 0);
    im.float_pred = f.value("float", 0);
    im.int8_pred = f.value("int8", 0);
    im.shape = s;
    im.pixels.resize(size_t(s.numel()));
    eval.image(im.index, im.pixels.data());
    out.push_back(std::move(im));
  }
  return out;
}

}  // namespace perceptra::quant
