#include "core/quant/ptq_data.h"

#include <algorithm>
#include <unordered_set>

#include "core/tensor/error.h"

namespace perceptra::quant {

Tensor load_normalised(const Dataset& data, const std::vector<int64_t>& indices, const ModelMeta& meta) {
  const Shape s = data.sample_shape();
  const int64_t per = s.numel(), C = s[0], plane = per / C;
  std::vector<float> v(size_t(per) * indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    float* px = v.data() + i * size_t(per);
    data.image(indices[i], px);
    if (!meta.mean.empty())
      for (int64_t c = 0; c < C; ++c)
        for (int64_t k = 0; k < plane; ++k)
          px[c * plane + k] = (px[c * plane + k] - meta.mean[size_t(c)]) / meta.std[size_t(c)];
  }
  std::vector<int64_t> dims = {int64_t(indices.size())};
  dims.insert(dims.end(), s.dims().begin(), s.dims().end());
  return Tensor::from_vector(Shape(dims), v);
}

const Dataset& evaluation_split(const DataSource& source) { return source.test ? *source.test : *source.train; }

PtqData prepare_ptq_data(const DataSource& src, const std::string& data_name, const Model& model, const ModelMeta& meta,
                         const PtqDataOptions& o) {
  if (!src.train || src.train->size() == 0) throw InputError(data_name, "has no training images to calibrate on");
  if (int(src.class_names.size()) != model.num_classes())
    throw InputError(data_name, "has " + std::to_string(src.class_names.size()) + " classes but the model predicts " +
                                    std::to_string(model.num_classes()));
  if (src.train->sample_shape() != model.input_shape())
    throw InputError(data_name, "images are " + src.train->sample_shape().str() + " but the model takes " +
                                    model.input_shape().str());
  PtqData d;
  const Dataset& train = *src.train;
  const int64_t n = train.size();
  // Calibration: evenly spaced (deterministic, every part of the set).
  const int64_t cal = std::clamp<int64_t>(o.calibration, 0, n);
  std::unordered_set<int64_t> used;
  for (int64_t i = 0; i < cal; ++i) {
    d.calibration_indices.push_back(i * n / cal);
    used.insert(d.calibration_indices.back());
  }
  d.calibration = load_normalised(train, d.calibration_indices, meta);
  // Held-out: evenly spaced from half a step in, never a calibration image.
  const int64_t hold = std::clamp<int64_t>(o.holdout, 0, n - cal);
  for (int64_t j = 0; j < hold; ++j) {
    int64_t idx = (j * n + n / 2) / hold % n;
    while (used.count(idx)) idx = (idx + 1) % n;
    used.insert(idx);
    d.holdout_indices.push_back(idx);
  }
  std::sort(d.holdout_indices.begin(), d.holdout_indices.end());
  if (!d.holdout_indices.empty()) {
    d.holdout.images = load_normalised(train, d.holdout_indices, meta);
    for (int64_t i : d.holdout_indices) d.holdout.labels.push_back(train.label(i));
  }
  const Dataset& ev = evaluation_split(src);
  d.eval_split = src.test ? "test" : "all images";
  int64_t n_eval = ev.size();
  if (o.eval_images > 0) n_eval = std::min(n_eval, o.eval_images);
  std::vector<int64_t> idx(static_cast<size_t>(n_eval));
  for (int64_t i = 0; i < n_eval; ++i) {
    idx[size_t(i)] = i;
    d.eval.labels.push_back(ev.label(i));
  }
  d.eval.images = load_normalised(ev, idx, meta);
  return d;
}

}  // namespace perceptra::quant
