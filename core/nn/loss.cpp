#include "core/nn/loss.h"

#include <cmath>

#include "core/backend/backend.h"
#include "core/tensor/error.h"

namespace perceptra {

SoftmaxCrossEntropy::SoftmaxCrossEntropy(float label_smoothing) : smoothing_(label_smoothing) {
  if (!(label_smoothing >= 0.f && label_smoothing < 1.f))
    throw InputError("label smoothing", "must be in [0, 1), got " + std::to_string(label_smoothing));
}

double SoftmaxCrossEntropy::forward(const Tensor& logits, const Tensor& labels) {
  if (logits.rank() != 2)
    throw InputError("softmax cross-entropy", "expects logits [batch, classes] but gets " + logits.shape().str() +
                                                  " - the model must end with a flat layer");
  int N = static_cast<int>(logits.dim(0)), C = static_cast<int>(logits.dim(1));
  if (labels.numel() != N)
    throw InputError("softmax cross-entropy",
                     std::to_string(labels.numel()) + " labels for a batch of " + std::to_string(N));
  // Labels are few (one per sample): checking them on the host is cheap and
  // turns a silent out-of-range read into a clear error.
  std::vector<float> host = labels.to_vector();
  for (int i = 0; i < N; ++i) {
    float l = host[i];
    if (!(l >= 0.f && l < static_cast<float>(C)) || std::floor(l) != l)
      throw InputError("softmax cross-entropy", "label " + std::to_string(l) + " of sample " + std::to_string(i) +
                                                    " is not a class index in [0, " + std::to_string(C) + ")");
  }
  Backend& be = backend_for(logits.device());
  probs_ = Tensor::empty(logits.shape(), logits.device());
  loss_ = Tensor::empty({N}, logits.device());
  labels_ = labels.device() == logits.device() ? labels : labels.to(logits.device());
  be.softmax_xent_forward(logits.data(), labels_.data(), probs_.data(), loss_.data(), N, C, smoothing_);
  return N ? be.sum(loss_.data(), N) / N : 0.0;
}

Tensor SoftmaxCrossEntropy::backward() const {
  PCHECK(probs_.defined(), "softmax cross-entropy: backward before forward");
  int N = static_cast<int>(probs_.dim(0)), C = static_cast<int>(probs_.dim(1));
  Tensor d = Tensor::empty(probs_.shape(), probs_.device());
  backend_for(probs_.device())
      .softmax_xent_backward(probs_.data(), labels_.data(), d.data(), N, C, smoothing_,
                             N ? 1.f / static_cast<float>(N) : 0.f);
  return d;
}

double MSELoss::forward(const Tensor& pred, const Tensor& target) {
  if (pred.numel() != target.numel())
    throw InputError("mse loss",
                     "prediction " + pred.shape().str() + " and target " + target.shape().str() + " differ in size");
  Tensor t = target.device() == pred.device() ? target : target.to(pred.device());
  grad_ = Tensor::empty(pred.shape(), pred.device());
  return backend_for(pred.device()).mse(pred.data(), t.data(), grad_.data(), static_cast<size_t>(pred.numel()));
}

Tensor MSELoss::backward() const {
  PCHECK(grad_.defined(), "mse loss: backward before forward");
  return grad_;
}

}  // namespace perceptra
