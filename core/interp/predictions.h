#pragma once
// Predictions over a validation/test set and the analyses built on them:
// top losses (fastai's plot_top_losses), most confused class pairs (fastai's
// most_confused), the items of any confusion-matrix cell, the confusion
// matrix and per-class metrics. Every item carries its index back into the
// dataset so the GUI can show the image.
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/normalize.h"
#include "core/interp/confusion.h"

namespace perceptra {

class Model;

// Predictions for n items of a dataset (struct of arrays, host values).
struct PredictionSet {
  int classes = 0;
  std::vector<std::string> class_names;
  std::vector<int64_t> index;  // dataset index of item i
  std::vector<int> label;      // true class
  std::vector<int> predicted;  // argmax of the logits (lowest index on ties)
  std::vector<float> loss;     // cross-entropy -log p(label), natural log
  std::vector<float> probs;    // softmax, [n * classes]

  int64_t size() const { return static_cast<int64_t>(index.size()); }
  float prob(int64_t i, int c) const { return probs[static_cast<size_t>(i) * classes + c]; }
  bool correct(int64_t i) const { return label[i] == predicted[i]; }
  Confusion confusion() const;
  double accuracy() const;
  double mean_loss() const;
};

struct PredictOptions {
  std::vector<int64_t> indices;  // items to predict (empty: the whole dataset)
  int batch_size = 256;
  // Checked between batches; when set, predict_dataset returns the items done so far.
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(int64_t done, int64_t total)> progress;
};

// Batched eval-mode inference (BatchNorm running stats, no dropout) with the
// stored normalisation (stats.empty(): none). Writes no parameter or
// gradient. It takes a while on a full validation set: while training runs
// on another thread, call it on clone_model() (saliency.h), never on the
// training model from a second thread. Throws InputError when the dataset's samples or class count do
// not fit the model, or an index is out of range.
PredictionSet predict_dataset(Model& model, const Dataset& data, const NormStats& stats,
                              const PredictOptions& options = {});

// Builds a PredictionSet from logits [n * classes] computed elsewhere (the
// trainer's validation pass, tests).
PredictionSet predictions_from_logits(const std::vector<float>& logits, int classes, const std::vector<int>& labels,
                                      const std::vector<int64_t>& dataset_index = {});

// One item as shown in the Inspect view.
struct LossItem {
  int64_t position = 0;  // into the PredictionSet
  int64_t dataset_index = 0;
  int label = 0, predicted = 0;
  float loss = 0;
  float prob_label = 0;      // probability of the true class
  float prob_predicted = 0;  // probability of the predicted class (confidence)
};
LossItem loss_item(const PredictionSet& p, int64_t position);

// Items by decreasing loss (ties: lower dataset index first), only the
// misclassified ones unless include_correct; k <= 0 means all. The most
// confidently wrong come first because a lower probability of the true class
// is a higher loss.
std::vector<LossItem> top_losses(const PredictionSet& p, int64_t k = 0, bool include_correct = false);

// Off-diagonal cells with at least min_count items, by decreasing count (ties:
// by true class, then predicted class).
struct ConfusedPair {
  int actual = 0, predicted = 0;
  int64_t count = 0;
};
std::vector<ConfusedPair> most_confused(const Confusion& confusion, int64_t min_count = 1);

// The items whose true class is `actual` and prediction `predicted`, by
// decreasing loss (ties: lower dataset index first). Throws InputError for a
// class outside [0, classes).
std::vector<LossItem> cell_items(const PredictionSet& p, int actual, int predicted);

}  // namespace perceptra
