#include "app/studio/fine_tune_box.h"

#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QSpinBox>

namespace perceptra::studio {

FineTuneBox::FineTuneBox(QWidget* parent) : QGroupBox(tr("Fine-tune"), parent) {
  setObjectName("fineTuneBox");
  auto* form = new QFormLayout(this);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->setVerticalSpacing(4);
  frozen_ = new QSpinBox(this);
  frozen_->setObjectName("freezeEpochs");
  frozen_->setRange(0, 1000);
  frozen_->setValue(1);
  frozen_->setToolTip(tr("Epochs training only the new head, the pretrained body frozen (BatchNorm still adapts)"));
  unfrozen_ = new QSpinBox(this);
  unfrozen_->setObjectName("unfrozenEpochs");
  unfrozen_->setRange(0, 1000);
  unfrozen_->setValue(2);
  unfrozen_->setToolTip(tr("Epochs training the whole network afterwards"));
  lrMult_ = new QDoubleSpinBox(this);
  lrMult_->setObjectName("lrMult");
  lrMult_->setRange(1, 10000);
  lrMult_->setDecimals(0);
  lrMult_->setValue(100);
  lrMult_->setToolTip(
      tr("Discriminative learning rates: the first body layers train at lr/N, "
         "later ones at lr/√N, the head at lr"));
  note_ = new QLabel(this);
  note_->setObjectName("fineTuneNote");
  note_->setWordWrap(true);
  form->addRow(tr("Frozen epochs"), frozen_);
  form->addRow(tr("Unfrozen epochs"), unfrozen_);
  form->addRow(tr("Body LR ÷"), lrMult_);
  form->addRow(note_);
  connect(frozen_, &QSpinBox::valueChanged, this, &FineTuneBox::refresh);
  connect(unfrozen_, &QSpinBox::valueChanged, this, &FineTuneBox::refresh);
  refresh();
}

void FineTuneBox::setActive(bool active) {
  active_ = active;
  refresh();
}

void FineTuneBox::refresh() {
  for (QWidget* w : {static_cast<QWidget*>(frozen_), static_cast<QWidget*>(unfrozen_), static_cast<QWidget*>(lrMult_)})
    w->setEnabled(active_);
  if (!active_)
    note_->setText(tr("Choose a pretrained model under Model › Start from to fine-tune it."));
  else if (frozen_->value() + unfrozen_->value() < 1)
    note_->setText(tr("Give at least one epoch."));
  else {
    const int n = frozen_->value() + unfrozen_->value();
    note_->setText(n == 1 ? tr("1 epoch in all (replaces Epochs above).")
                          : tr("%1 epochs in all (replaces Epochs above).").arg(n));
  }
}

void FineTuneBox::applyTo(TrainConfig& c) const {
  if (c.from_model.empty()) return;
  c.freeze_epochs = frozen_->value();
  c.epochs = std::max(1, frozen_->value() + unfrozen_->value());
  c.lr_mult = lrMult_->value();
}

void FineTuneBox::setFrom(const TrainConfig& c) {
  if (c.from_model.empty()) return;
  frozen_->setValue(std::min(c.freeze_epochs, c.epochs));
  unfrozen_->setValue(std::max(0, c.epochs - c.freeze_epochs));
  lrMult_->setValue(c.lr_mult);
}

}  // namespace perceptra::studio
