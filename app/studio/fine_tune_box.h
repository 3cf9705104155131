#pragma once
// Training dock's Fine-tune group (fastai's fine_tune): epochs with the
// pretrained body frozen (only the new head trains), epochs unfrozen, and the
// discriminative LR spread (body groups at lr/mult .. lr/sqrt(mult), head at
// lr). Active only while the Model dock starts from a pretrained model; then
// it decides the run's epochs (frozen + unfrozen).
#include <QGroupBox>

#include "core/train/config.h"

class QLabel;
class QSpinBox;
class QDoubleSpinBox;

namespace perceptra::studio {

class FineTuneBox : public QGroupBox {
  Q_OBJECT
 public:
  explicit FineTuneBox(QWidget* parent = nullptr);

  // A starting model is chosen (or not): the controls apply only then.
  void setActive(bool active);
  bool active() const { return active_; }
  // With config.from_model set: freeze_epochs, epochs = frozen + unfrozen,
  // lr_mult. Without: leaves config alone (a scratch run).
  void applyTo(TrainConfig& config) const;
  void setFrom(const TrainConfig& config);

 private:
  void refresh();
  bool active_ = false;
  QSpinBox* frozen_;
  QSpinBox* unfrozen_;
  QDoubleSpinBox* lrMult_;
  QLabel* note_;
};

}  // namespace perceptra::studio
