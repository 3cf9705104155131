#include "app/studio/training_panel.h"

#include <QAction>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>
#include <cmath>

#include "app/studio/cost_view.h"
#include "app/studio/fine_tune_box.h"
#include "app/studio/qt_convert.h"
#include "core/backend/backend.h"
#include "core/train/progress_text.h"
#include "widgets/lr_finder_plot.h"

namespace perceptra::studio {

namespace {
// A spin box for learning rates: scientific-looking values, and the arrow
// keys move by a factor (learning rates live on a log scale).
class LrSpinBox : public QDoubleSpinBox {
 public:
  explicit LrSpinBox(QWidget* parent) : QDoubleSpinBox(parent) {
    setDecimals(7);
    setRange(1e-7, 10.0);
  }
  void stepBy(int steps) override {
    double v = value() * std::pow(2.0, steps * 0.5);
    setValue(std::clamp(v, minimum(), maximum()));
  }
  QString textFromValue(double v) const override { return QString::number(v, 'g', 3); }
  double valueFromText(const QString& text) const override { return text.toDouble(); }
  QValidator::State validate(QString& text, int&) const override {
    bool ok = false;
    text.toDouble(&ok);
    if (ok) return QValidator::Acceptable;
    return text.isEmpty() || text.endsWith('e') || text.endsWith('-') || text.endsWith('.') ? QValidator::Intermediate
                                                                                            : QValidator::Invalid;
  }
};

void bindButton(QPushButton* b, QAction* a) {
  auto sync = [b, a] {
    b->setText(a->iconText());
    b->setIcon(a->icon());
    b->setEnabled(a->isEnabled());
    b->setToolTip(a->toolTip() +
                  (a->shortcut().isEmpty() ? QString() : QStringLiteral(" (%1)").arg(a->shortcut().toString())));
  };
  sync();
  QObject::connect(a, &QAction::changed, b, sync);
  QObject::connect(b, &QPushButton::clicked, a, &QAction::trigger);
}
}  // namespace

TrainingPanel::TrainingPanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(6, 6, 6, 6);
  auto* hp = new QGroupBox(tr("Hyper-parameters"), this);
  auto* form = new QFormLayout(hp);
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->setVerticalSpacing(4);  // nine rows: keep the progress and status below them in view
  lr_ = new LrSpinBox(hp);
  lr_->setObjectName("learningRate");
  lr_->setValue(0.01);
  lr_->setToolTip(tr("Peak learning rate (the one-cycle schedule's maximum)"));
  batch_ = new QSpinBox(hp);
  batch_->setObjectName("batchSize");
  batch_->setRange(1, 4096);
  batch_->setValue(128);
  epochs_ = new QSpinBox(hp);
  epochs_->setObjectName("epochs");
  epochs_->setRange(1, 1000);
  epochs_->setValue(3);
  optimizer_ = new QComboBox(hp);
  optimizer_->setObjectName("optimizer");
  optimizer_->addItem(tr("SGD + momentum"), "sgd");
  optimizer_->addItem(tr("Adam"), "adam");
  optimizer_->addItem(tr("AdamW"), "adamw");
  optimizer_->addItem(tr("LARS"), "lars");
  momentum_ = new QDoubleSpinBox(hp);
  momentum_->setRange(0, 0.999);
  momentum_->setDecimals(3);
  momentum_->setSingleStep(0.01);
  momentum_->setValue(0.9);
  momentum_->setToolTip(tr("SGD/LARS momentum, Adam's β1"));
  weightDecay_ = new QDoubleSpinBox(hp);
  weightDecay_->setObjectName("weightDecay");
  weightDecay_->setDecimals(5);
  weightDecay_->setRange(0, 1);
  weightDecay_->setSingleStep(1e-4);
  schedule_ = new QComboBox(hp);
  schedule_->setObjectName("schedule");
  schedule_->addItem(tr("One-cycle"), "onecycle");
  schedule_->addItem(tr("Constant"), "constant");
  schedule_->addItem(tr("Cosine"), "cosine");
  schedule_->addItem(tr("Step (×0.1 per epoch)"), "step");
  seed_ = new QSpinBox(hp);
  seed_->setObjectName("seed");
  seed_->setRange(0, 1 << 30);
  device_ = new QComboBox(hp);
  device_->setObjectName("device");
  device_->addItem(tr("Auto (CUDA when available)"), "auto");
  device_->addItem(tr("CPU"), "cpu");
  device_->addItem(tr("CUDA"), "cuda:0");
  precision_ = new QComboBox(hp);
  precision_->setObjectName("precision");
  precision_->addItem(tr("Float32"), "f32");
  precision_->addItem(tr("BFloat16 (mixed precision)"), "bf16");
  precision_->setToolTip(
      tr("BFloat16: matrix products and convolutions on bfloat16 inputs with float32 sums; "
         "weights, gradients and everything else stay float32"));
  // Offered only where it runs: a run at bf16 elsewhere would fail at start.
  if (const std::string why = backend_for(Device::cpu()).precision_unavailable(Precision::BF16); !why.empty()) {
    auto* items = qobject_cast<QStandardItemModel*>(precision_->model());
    items->item(1)->setEnabled(false);
    items->item(1)->setToolTip(QString::fromStdString(why));
  }
  form->addRow(tr("Learning rate"), lr_);
  form->addRow(tr("Batch size"), batch_);
  form->addRow(tr("Epochs"), epochs_);
  form->addRow(tr("Optimizer"), optimizer_);
  form->addRow(tr("Momentum"), momentum_);
  form->addRow(tr("Weight decay"), weightDecay_);
  form->addRow(tr("Schedule"), schedule_);
  form->addRow(tr("Seed"), seed_);
  form->addRow(tr("Device"), device_);
  form->addRow(tr("Precision"), precision_);
  layout->addWidget(hp);
  cost_ = new CostView(this);
  layout->addWidget(cost_);
  connect(batch_, &QSpinBox::valueChanged, this, &TrainingPanel::costSettingsChanged);
  connect(optimizer_, &QComboBox::currentIndexChanged, this, &TrainingPanel::costSettingsChanged);
  connect(device_, &QComboBox::currentIndexChanged, this, &TrainingPanel::costSettingsChanged);
  fineTune_ = new FineTuneBox(this);
  layout->addWidget(fineTune_);

  auto* buttons = new QHBoxLayout;
  train_ = new QPushButton(this);
  train_->setObjectName("trainButton");
  train_->setDefault(true);
  pause_ = new QPushButton(this);
  pause_->setObjectName("pauseButton");
  stop_ = new QPushButton(this);
  stop_->setObjectName("stopButton");
  lrFind_ = new QPushButton(this);
  lrFind_->setObjectName("lrFindButton");
  sweep_ = new QPushButton(tr("Sweep…"), this);
  sweep_->setObjectName("sweepButton");
  sweep_->setEnabled(false);  // until the window binds its action
  for (auto* b : {train_, pause_, stop_}) buttons->addWidget(b);
  buttons->addStretch(1);
  buttons->addWidget(sweep_);
  buttons->addWidget(lrFind_);
  layout->addLayout(buttons);

  progress_ = new QProgressBar(this);
  progress_->setObjectName("trainProgress");
  progress_->setRange(0, 1000);
  progress_->setValue(0);
  progress_->setTextVisible(true);
  progress_->setFormat(tr("Idle"));
  layout->addWidget(progress_);
  auto* info = new QHBoxLayout;
  eta_ = new QLabel(this);
  eta_->setObjectName("etaLabel");
  rate_ = new QLabel(this);
  rate_->setObjectName("rateLabel");
  rate_->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
  info->addWidget(eta_);
  info->addStretch(1);
  info->addWidget(rate_);
  layout->addLayout(info);
  status_ = new QLabel(this);
  status_->setObjectName("trainStatus");
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(status_);

  buildLrFinderBox();
  layout->addStretch(1);
}

// The LR finder's plot and Apply button (shown in the Live view's tabs).
void TrainingPanel::buildLrFinderBox() {
  lrBox_ = new QWidget(this);
  auto* lrl = new QVBoxLayout(lrBox_);
  auto* lrHelp = new QLabel(tr("Loss against learning rate over a short sweep on a throw-away copy of the model. "
                               "The marked rate is where the loss falls fastest; click the curve to pick another."),
                            lrBox_);
  lrHelp->setWordWrap(true);
  lrl->addWidget(lrHelp);
  lrPlot_ = new widgets::LrFinderPlot(lrBox_);
  lrPlot_->setObjectName("lrFinderPlot");
  lrPlot_->setMinimumHeight(180);
  lrl->addWidget(lrPlot_, 1);
  applyLr_ = new QPushButton(tr("Apply suggested learning rate"), lrBox_);
  applyLr_->setObjectName("applyLrButton");
  applyLr_->setEnabled(false);
  lrl->addWidget(applyLr_);
  connect(applyLr_, &QPushButton::clicked, this, [this] {
    double lr = lrPlot_->pickedLr() > 0 ? lrPlot_->pickedLr() : suggested_;
    if (lr <= 0) return;
    setLearningRate(lr);
    emit learningRateApplied(lr);
  });
  connect(lrPlot_, &widgets::LrFinderPlot::lrPicked, this, [this](double lr) {
    applyLr_->setText(tr("Apply learning rate %1").arg(widgets::LrFinderPlot::formatLr(lr)));
    applyLr_->setEnabled(true);
  });
}

void TrainingPanel::setActions(QAction* train, QAction* pause, QAction* stop, QAction* lrFind) {
  bindButton(train_, train);
  bindButton(pause_, pause);
  bindButton(stop_, stop);
  bindButton(lrFind_, lrFind);
}

void TrainingPanel::setSweepAction(QAction* sweep) {
  bindButton(sweep_, sweep);
  sweep_->setText(tr("Sweep…"));  // shorter than the menu's text
  QObject::connect(sweep, &QAction::changed, sweep_, [this] { sweep_->setText(tr("Sweep…")); });
}

void TrainingPanel::applyTo(TrainConfig& c) const {
  c.optimizer.kind = optimizer_->currentData().toString().toStdString();
  c.optimizer.lr = float(lr_->value());
  c.optimizer.momentum = float(momentum_->value());
  c.optimizer.weight_decay = float(weightDecay_->value());
  c.schedule.kind = schedule_->currentData().toString().toStdString();
  c.batch_size = batch_->value();
  c.epochs = epochs_->value();
  c.seed = uint64_t(seed_->value());
  c.device = device_->currentData().toString().toStdString();
  c.precision = precision_->currentData().toString().toStdString();
  fineTune_->applyTo(c);  // after epochs: a fine-tune decides them
}

void TrainingPanel::setFrom(const TrainConfig& c) {
  lr_->setValue(c.optimizer.lr);
  momentum_->setValue(c.optimizer.momentum);
  weightDecay_->setValue(c.optimizer.weight_decay);
  batch_->setValue(c.batch_size);
  epochs_->setValue(c.epochs);
  seed_->setValue(int(c.seed));
  if (int i = optimizer_->findData(QString::fromStdString(c.optimizer.kind)); i >= 0) optimizer_->setCurrentIndex(i);
  if (int i = schedule_->findData(QString::fromStdString(c.schedule.kind)); i >= 0) schedule_->setCurrentIndex(i);
  if (int i = device_->findData(QString::fromStdString(c.device)); i >= 0) device_->setCurrentIndex(i);
  if (int i = precision_->findData(QString::fromStdString(c.precision)); i >= 0) precision_->setCurrentIndex(i);
  fineTune_->setFrom(c);
}

double TrainingPanel::learningRate() const { return lr_->value(); }
void TrainingPanel::setLearningRate(double lr) { lr_->setValue(lr); }
void TrainingPanel::setEpochs(int epochs) { epochs_->setValue(epochs); }
void TrainingPanel::setBatchSize(int batch) { batch_->setValue(batch); }

void TrainingPanel::resetProgress(const QString& text) {
  progress_->setValue(0);
  progress_->setFormat(text);
  eta_->clear();
  rate_->clear();
}

void TrainingPanel::setProgress(int epoch, int epochs, int64_t batch, int64_t batches, double imagesPerS,
                                double elapsedS, int64_t batchesDone, int64_t batchSize) {
  if (epochs <= 0 || batches <= 0) return;
  const double done = (epoch + double(batch) / double(batches)) / epochs;
  progress_->setValue(int(std::lround(std::clamp(done, 0.0, 1.0) * 1000)));
  progress_->setFormat(
      tr("Epoch %1/%2 · batch %3/%4 · %5 %").arg(epoch + 1).arg(epochs).arg(batch).arg(batches).arg(int(done * 100)));
  // `batch` counts the batches finished in this epoch (1-based).
  const double eta = eta_seconds(batchesDone, elapsedS, batches_left(epoch, epochs, batch - 1, batches));
  if (eta >= 0 && elapsedS > 1) eta_->setText(tr("ETA %1").arg(durationText(eta)));
  rate_->setText(QString::fromStdString(speed_text(imagesPerS, batchSize)));
}

void TrainingPanel::setStatus(const QString& text) { status_->setText(text); }
QString TrainingPanel::etaText() const { return eta_->text(); }
QString TrainingPanel::rateText() const { return rate_->text(); }
QString TrainingPanel::statusText() const { return status_->text(); }

void TrainingPanel::showLrFinder(const std::vector<double>& lrs, const std::vector<double>& losses,
                                 const std::vector<double>& smoothed, double suggestion) {
  lrPlot_->setData(lrs, losses, smoothed);
  lrPlot_->setSuggestion(suggestion);
  suggested_ = suggestion;
  applyLr_->setEnabled(suggestion > 0);
  applyLr_->setText(suggestion > 0
                        ? tr("Apply suggested learning rate %1").arg(widgets::LrFinderPlot::formatLr(suggestion))
                        : tr("No suggestion (the loss never fell)"));
}

}  // namespace perceptra::studio
