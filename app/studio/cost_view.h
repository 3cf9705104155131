#pragma once
// The cost estimate of the run the form describes (core/train/cost_estimate.h),
// shown in the Model and Training docks: parameters, activation memory per
// batch, projected peak memory against the limit, FLOPs per image and the
// expected speed; coloured by the verdict, and with the speed measured from
// the first batches once a run trains.
#include <QFrame>

#include <optional>

#include "core/train/cost_estimate.h"

class QLabel;

namespace perceptra::studio {

class CostView : public QFrame {
  Q_OBJECT
 public:
  explicit CostView(QWidget* parent = nullptr);

  void setEstimate(const CostEstimate& e);
  // No estimate (no dataset yet, a spec that does not fit): why.
  void setUnavailable(const QString& why);
  // The rate of the run training now ("measured 3.1 images/s").
  void setMeasured(double imagesPerS, int64_t batchSize);

  const std::optional<CostEstimate>& estimate() const { return estimate_; }
  QString text() const;  // what is shown, as plain text (tests, accessibility)

 private:
  void render();
  QLabel* label_;
  std::optional<CostEstimate> estimate_;
  QString unavailable_, measured_;
};

// Rich text lines of an estimate ("<b>Cost estimate</b> ...").
QString costHtml(const CostEstimate& e);
QString verdictColor(CostVerdict v);

}  // namespace perceptra::studio
