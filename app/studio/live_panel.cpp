#include "app/studio/live_panel.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "app/studio/qt_convert.h"
#include "core/interp/live_snapshot.h"
#include "widgets/activation_view.h"
#include "widgets/confusion_matrix_view.h"
#include "widgets/probability_bars.h"
#include "widgets/training_plot.h"

namespace perceptra::studio {

using widgets::TrainingPlot;

namespace {
QWidget* titled(const QString& title, QWidget* body, QLabel** titleOut = nullptr) {
  auto* w = new QWidget;
  auto* l = new QVBoxLayout(w);
  l->setContentsMargins(2, 2, 2, 2);
  l->setSpacing(2);
  auto* t = new QLabel(title, w);
  t->setStyleSheet(QStringLiteral("font-weight: 600; padding: 2px 4px;"));
  l->addWidget(t);
  l->addWidget(body, 1);
  if (titleOut) *titleOut = t;
  return w;
}
}  // namespace

LivePanel::LivePanel(QWidget* parent) : QWidget(parent) {
  auto* layout = new QHBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* split = new QSplitter(Qt::Horizontal, this);
  split->setObjectName("liveSplitter");
  layout->addWidget(split);

  auto* plots = new QSplitter(Qt::Vertical, split);
  loss_ = new TrainingPlot(plots);
  loss_->setObjectName("lossPlot");
  loss_->applyPreset(TrainingPlot::Preset::Loss);
  loss_->setTitle(tr("Loss"));
  loss_->setXLabel(tr("step"));
  accuracy_ = new TrainingPlot(plots);
  accuracy_->setObjectName("accuracyPlot");
  accuracy_->applyPreset(TrainingPlot::Preset::Accuracy);
  accuracy_->setTitle(tr("Accuracy"));
  accuracy_->setXLabel(tr("epoch"));
  useIntegerXTicks(accuracy_->customPlot());
  lr_ = new TrainingPlot(plots);
  lr_->setObjectName("lrPlot");
  lr_->applyPreset(TrainingPlot::Preset::Schedule);
  lr_->setTitle(tr("Learning rate and momentum"));
  lr_->setXLabel(tr("step"));
  plots->addWidget(loss_);
  plots->addWidget(accuracy_);
  plots->addWidget(lr_);
  plots->setStretchFactor(0, 5);
  plots->setStretchFactor(1, 3);
  plots->setStretchFactor(2, 2);

  auto* right = new QSplitter(Qt::Vertical, split);
  confusion_ = new widgets::ConfusionMatrixView;
  confusion_->setObjectName("confusionMatrix");
  right->addWidget(
      titled(tr("Confusion matrix (validation) — click a cell to inspect it"), confusion_, &confusionTitle_));

  tabs_ = new QTabWidget;
  auto* actPage = new QWidget;
  auto* al = new QVBoxLayout(actPage);
  al->setContentsMargins(2, 2, 2, 2);
  auto* probeRow = new QHBoxLayout;
  probeImage_ = new QLabel(actPage);
  probeImage_->setObjectName("probeImage");
  probeImage_->setFixedSize(64, 64);
  probeImage_->setAlignment(Qt::AlignCenter);
  probeImage_->setStyleSheet(QStringLiteral("border: 1px solid palette(mid);"));
  probeText_ = new QLabel(
      tr("Activations appear here while training.\nClick a dataset sample to choose the probe image."), actPage);
  probeText_->setObjectName("probeText");
  probeText_->setWordWrap(true);
  probeBars_ = new widgets::ProbabilityBars(actPage);
  probeBars_->setMaxRows(3);
  probeBars_->setMinimumWidth(200);
  probeRow->addWidget(probeImage_);
  probeRow->addWidget(probeText_, 2);
  probeRow->addWidget(probeBars_, 3);
  al->addLayout(probeRow);
  activations_ = new widgets::ActivationView(actPage);
  activations_->setObjectName("activationView");
  activations_->setPlaceholderText(tr("No activations yet"));
  al->addWidget(activations_, 1);
  filters_ = new widgets::ActivationView;
  filters_->setObjectName("filterView");
  filters_->setMaxScale(6);
  filters_->setPlaceholderText(tr("First-layer filters appear while training (models with a conv layer)"));
  tabs_->addTab(actPage, tr("Activations"));
  tabs_->addTab(filters_, tr("First-layer filters"));
  right->addWidget(tabs_);
  right->setStretchFactor(0, 1);
  right->setStretchFactor(1, 1);

  split->addWidget(plots);
  split->addWidget(right);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 1);
}

void LivePanel::setLrFinderWidget(QWidget* w) {
  lrFinder_ = w;
  tabs_->addTab(w, tr("LR finder"));
}

void LivePanel::showLrFinder() {
  if (lrFinder_) tabs_->setCurrentWidget(lrFinder_);
}

void LivePanel::reset(const QStringList& classNames) {
  for (auto* p : {loss_, accuracy_, lr_}) {
    p->clearData();
    p->resetView();
  }
  confusion_->clear();
  setClassNames(classNames);
  // A new run shows its activations, not the last LR sweep.
  if (lrFinder_ && tabs_->currentWidget() == lrFinder_) tabs_->setCurrentIndex(0);
  confusionTitle_->setText(tr("Confusion matrix (validation) — click a cell to inspect it"));
}

void LivePanel::showEmpty(const QString& why) {
  reset({});
  activations_->clear();
  filters_->clear();
  probeImage_->clear();
  probeText_->clear();
  probeBars_->setProbabilities({}, {});
  confusionTitle_->setText(why);
}

bool LivePanel::showLayer(const QString& name) {
  for (int i = 0; i < activations_->entryCount(); ++i) {
    const QString n = activations_->entry(i).name;
    if (n == name || n.startsWith(name + QStringLiteral(" ("))) {
      tabs_->setCurrentIndex(tabs_->indexOf(activations_->parentWidget()));
      const QRect r = activations_->entryRect(i);
      activations_->ensureVisible(r.center().x(), r.center().y(), r.width() / 2, r.height() / 2);
      return true;
    }
  }
  return false;
}

void LivePanel::setClassNames(const QStringList& names) {
  names_ = names;
  confusion_->setClassNames(names);
}

void LivePanel::addBatches(const std::vector<BatchEnd>& burst) {
  for (const auto& b : burst) {
    if (std::isfinite(b.loss)) loss_->append(TrainingPlot::kTrainLoss, double(b.step), b.loss);
    lr_->append(TrainingPlot::kLearningRate, double(b.step), b.lr);
    lr_->append(TrainingPlot::kMomentum, double(b.step), b.momentum);
  }
}

void LivePanel::addEpoch(const EpochEnd& e) {
  // At the epoch's last batch (x is the 0-based step of a batch).
  loss_->append(TrainingPlot::kValidLoss, double(std::max<int64_t>(0, e.step - 1)), e.valid_loss);
  accuracy_->append(TrainingPlot::kTrainAccuracy, e.epoch + 1, e.train_accuracy);
  accuracy_->append(TrainingPlot::kValidAccuracy, e.epoch + 1, e.valid_accuracy);
  const int n = int(e.confusion.size());
  if (n == 0) return;  // a recorded epoch: the store keeps no matrix
  std::vector<int64_t> flat;
  flat.reserve(size_t(n) * n);
  for (const auto& row : e.confusion) flat.insert(flat.end(), row.begin(), row.end());
  if (!e.class_names.empty()) setClassNames(toQStringList(e.class_names));
  setConfusion(flat, n,
               tr("Confusion matrix · epoch %1 · validation accuracy %2 %")
                   .arg(e.epoch + 1)
                   .arg(e.valid_accuracy * 100, 0, 'f', 1));
}

void LivePanel::setConfusion(const std::vector<int64_t>& counts, int classes, const QString& title) {
  confusion_->setCounts(counts, classes);
  confusionTitle_->setText(title);
}

void LivePanel::setSnapshot(const LiveSnapshot& s) {
  ++snapshots_;
  lastProbe_ = s.probe_index;
  std::vector<widgets::ActivationEntry> entries;
  for (const auto& l : s.layers) {
    widgets::ActivationEntry e;
    e.name = QStringLiteral("%1 (%2)").arg(qs(l.name), qs(l.type));
    e.detail = shapeText(l.shape);
    e.image = toQImage(l.tiles.image);
    entries.push_back(std::move(e));
  }
  activations_->setEntries(std::move(entries));
  if (s.has_filters) {
    widgets::ActivationEntry f;
    f.name = tr("First-layer filters");
    f.detail = tr("%1 filters").arg(s.filters.filters.size());
    f.image = toQImage(s.filters.grid.image);
    filters_->setEntries({f});
  }
  QImage probe = toQImage(s.probe_image);
  if (!probe.isNull())
    probeImage_->setPixmap(QPixmap::fromImage(probe.scaled(64, 64, Qt::KeepAspectRatio, Qt::FastTransformation)));
  auto name = [this](int c) { return c >= 0 && c < names_.size() ? names_[c] : QString::number(c); };
  QString text = tr("<b>Probe #%1</b> · %2").arg(s.probe_index).arg(name(s.probe_label).toHtmlEscaped());
  if (s.predicted >= 0 && size_t(s.predicted) < s.probabilities.size())
    text += tr("<br>→ %1 %2 %")
                .arg(name(s.predicted).toHtmlEscaped())
                .arg(s.probabilities[size_t(s.predicted)] * 100, 0, 'f', 1);
  text += tr("<br><span style='color:gray'>step %1</span>").arg(s.step);
  probeText_->setText(text);
  probeBars_->setProbabilities(s.probabilities, names_);
  probeBars_->setTrueClass(s.probe_label);
}

}  // namespace perceptra::studio
