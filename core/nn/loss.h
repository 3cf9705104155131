#pragma once
// Losses. Each keeps what its backward and the metrics need.
#include "core/tensor/tensor.h"

namespace perceptra {

// Softmax cross-entropy over logits [N, C] with class labels [N] (floats
// holding class indices), mean over the batch. Label smoothing follows
// PyTorch: target = (1 - s) one-hot + s / C. The softmax is computed stably
// (max-subtracted) by the backend.
class SoftmaxCrossEntropy {
 public:
  explicit SoftmaxCrossEntropy(float label_smoothing = 0.f);
  // Returns the mean loss; keeps probabilities and per-sample losses.
  // Throws InputError when labels are not integral class indices in [0, C).
  double forward(const Tensor& logits, const Tensor& labels);
  // dL/dlogits of the mean loss: (probs - target) / N.
  Tensor backward() const;

  const Tensor& probs() const { return probs_; }           // [N, C]
  const Tensor& per_sample_loss() const { return loss_; }  // [N]
  float label_smoothing() const { return smoothing_; }

 private:
  float smoothing_;
  Tensor probs_, loss_, labels_;
};

// Mean squared error over all elements: mean((p - t)^2).
class MSELoss {
 public:
  double forward(const Tensor& pred, const Tensor& target);
  Tensor backward() const;  // 2 (p - t) / n

 private:
  Tensor grad_;
};

}  // namespace perceptra
