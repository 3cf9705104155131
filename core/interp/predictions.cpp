#include "core/interp/predictions.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/backend/backend.h"
#include "core/interp/activations.h"
#include "core/nn/model.h"
#include "core/tensor/error.h"

namespace perceptra {

Confusion PredictionSet::confusion() const {
  Confusion c(classes);
  c.add_all(label, predicted);
  return c;
}

double PredictionSet::accuracy() const {
  if (index.empty()) return 0;
  int64_t ok = 0;
  for (int64_t i = 0; i < size(); ++i) ok += correct(i);
  return static_cast<double>(ok) / static_cast<double>(size());
}

double PredictionSet::mean_loss() const {
  if (loss.empty()) return 0;
  double s = 0;
  for (float l : loss) s += l;
  return s / static_cast<double>(loss.size());
}

// Appends one item from its logits: stable log-softmax on the host.
static void append_item(PredictionSet& p, const float* z, int label, int64_t dataset_index) {
  const int C = p.classes;
  if (label < 0 || label >= C)
    throw InputError("predictions", "label " + std::to_string(label) + " of item " + std::to_string(dataset_index) +
                                        " is outside [0, " + std::to_string(C) + ")");
  const float* best = std::max_element(z, z + C);
  const float m = *best;
  double s = 0;
  for (int c = 0; c < C; ++c) s += std::exp(static_cast<double>(z[c] - m));
  const double log_s = std::log(s);
  for (int c = 0; c < C; ++c) p.probs.push_back(static_cast<float>(std::exp(static_cast<double>(z[c] - m) - log_s)));
  p.index.push_back(dataset_index);
  p.label.push_back(label);
  p.predicted.push_back(static_cast<int>(best - z));
  p.loss.push_back(static_cast<float>(log_s - static_cast<double>(z[label] - m)));
}

PredictionSet predictions_from_logits(const std::vector<float>& logits, int classes, const std::vector<int>& labels,
                                      const std::vector<int64_t>& dataset_index) {
  if (classes <= 0 || logits.size() != labels.size() * static_cast<size_t>(classes))
    throw InputError("predictions", std::to_string(logits.size()) + " logits do not match " +
                                        std::to_string(labels.size()) + " labels x " + std::to_string(classes) +
                                        " classes");
  if (!dataset_index.empty() && dataset_index.size() != labels.size())
    throw InputError("predictions", "dataset indices and labels differ in count");
  PredictionSet p;
  p.classes = classes;
  for (size_t i = 0; i < labels.size(); ++i)
    append_item(p, logits.data() + i * classes, labels[i],
                dataset_index.empty() ? static_cast<int64_t>(i) : dataset_index[i]);
  return p;
}

PredictionSet predict_dataset(Model& model, const Dataset& data, const NormStats& stats,
                              const PredictOptions& options) {
  if (data.sample_shape() != model.input_shape())
    throw InputError(data.source(),
                     "samples are " + data.sample_shape().str() + " but the model takes " + model.input_shape().str());
  if (data.num_classes() != model.num_classes())
    throw InputError(data.source(), "has " + std::to_string(data.num_classes()) + " classes but the model predicts " +
                                        std::to_string(model.num_classes()));
  if (options.batch_size <= 0) throw InputError("predictions", "batch size must be positive");
  std::vector<int64_t> indices = options.indices;
  if (indices.empty()) {
    indices.resize(static_cast<size_t>(data.size()));
    std::iota(indices.begin(), indices.end(), int64_t{0});
  }
  PredictionSet p;
  p.classes = model.num_classes();
  p.class_names = data.class_names();
  p.index.reserve(indices.size());
  p.probs.reserve(indices.size() * static_cast<size_t>(p.classes));
  const int64_t total = static_cast<int64_t>(indices.size());
  const WeightsHeld held;  // the model is only read here: weights prepared once, not per batch
  for (int64_t begin = 0; begin < total; begin += options.batch_size) {
    if (options.cancel && options.cancel->load()) break;
    int64_t end = std::min(total, begin + options.batch_size);
    std::vector<int64_t> batch(indices.begin() + begin, indices.begin() + end);
    Tensor x = make_probe_batch(data, batch, stats, model.device());
    Tensor logits = model.infer(x);
    PCHECK(logits.rank() == 2 && logits.dim(1) == p.classes,
           "predictions: the model's output " + logits.shape().str() + " is not [batch, classes]");
    std::vector<float> z = logits.to_vector();
    for (size_t i = 0; i < batch.size(); ++i) append_item(p, z.data() + i * p.classes, data.label(batch[i]), batch[i]);
    if (options.progress) options.progress(end, total);
  }
  return p;
}

LossItem loss_item(const PredictionSet& p, int64_t i) {
  LossItem it;
  it.position = i;
  it.dataset_index = p.index[i];
  it.label = p.label[i];
  it.predicted = p.predicted[i];
  it.loss = p.loss[i];
  it.prob_label = p.prob(i, it.label);
  it.prob_predicted = p.prob(i, it.predicted);
  return it;
}

static void sort_by_loss(std::vector<LossItem>& items) {
  std::sort(items.begin(), items.end(), [](const LossItem& a, const LossItem& b) {
    if (a.loss != b.loss) return a.loss > b.loss;
    return a.dataset_index < b.dataset_index;
  });
}

std::vector<LossItem> top_losses(const PredictionSet& p, int64_t k, bool include_correct) {
  std::vector<LossItem> items;
  for (int64_t i = 0; i < p.size(); ++i)
    if (include_correct || !p.correct(i)) items.push_back(loss_item(p, i));
  sort_by_loss(items);
  if (k > 0 && static_cast<int64_t>(items.size()) > k) items.resize(static_cast<size_t>(k));
  return items;
}

std::vector<ConfusedPair> most_confused(const Confusion& c, int64_t min_count) {
  std::vector<ConfusedPair> pairs;
  for (int i = 0; i < c.classes(); ++i)
    for (int j = 0; j < c.classes(); ++j) {
      if (i == j) continue;
      int64_t n = c.at(i, j);
      if (n > 0 && n >= min_count) pairs.push_back({i, j, n});
    }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const ConfusedPair& a, const ConfusedPair& b) { return a.count > b.count; });
  return pairs;
}

std::vector<LossItem> cell_items(const PredictionSet& p, int actual, int predicted) {
  if (actual < 0 || actual >= p.classes || predicted < 0 || predicted >= p.classes)
    throw InputError("confusion cell", "(" + std::to_string(actual) + ", " + std::to_string(predicted) +
                                           ") is outside the " + std::to_string(p.classes) + "-class matrix");
  std::vector<LossItem> items;
  for (int64_t i = 0; i < p.size(); ++i)
    if (p.label[i] == actual && p.predicted[i] == predicted) items.push_back(loss_item(p, i));
  sort_by_loss(items);
  return items;
}

}  // namespace perceptra
