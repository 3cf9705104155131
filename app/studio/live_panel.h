#pragma once
// The Live view: loss (train per batch, smoothed; valid per epoch), accuracy
// and learning-rate plots, the confusion matrix of the last epoch, and the
// activations of every layer for the probe image with the first-layer
// filters. Plots redraw at their own bounded rate (TrainingPlot's timer);
// snapshots arrive a few times a second at most.
#include <QWidget>

#include <memory>
#include <vector>

#include "core/train/events.h"

class QLabel;
class QTabWidget;

namespace perceptra::widgets {
class TrainingPlot;
class ConfusionMatrixView;
class ActivationView;
class ProbabilityBars;
}  // namespace perceptra::widgets

namespace perceptra {
struct LiveSnapshot;
}

namespace perceptra::studio {

class LivePanel : public QWidget {
  Q_OBJECT
 public:
  explicit LivePanel(QWidget* parent = nullptr);

  // A new run (clears the plots; resumed runs keep the x axis in steps).
  void reset(const QStringList& classNames);
  void addBatches(const std::vector<BatchEnd>& burst);
  void addEpoch(const EpochEnd& e);  // an epoch without a confusion matrix (history) keeps the shown one
  // Nothing to show: the plots and matrix are empty and say why.
  void showEmpty(const QString& why);
  // Brings the activations of layer `name` into view; false when that
  // layer has none shown yet (no snapshot since the run began).
  bool showLayer(const QString& name);
  void setSnapshot(const LiveSnapshot& s);
  void setConfusion(const std::vector<int64_t>& counts, int classes, const QString& title);
  void setClassNames(const QStringList& names);

  widgets::TrainingPlot* lossPlot() const { return loss_; }
  widgets::TrainingPlot* accuracyPlot() const { return accuracy_; }
  widgets::TrainingPlot* lrPlot() const { return lr_; }
  widgets::ConfusionMatrixView* confusion() const { return confusion_; }
  widgets::ActivationView* activations() const { return activations_; }
  widgets::ActivationView* filters() const { return filters_; }
  QTabWidget* rightTabs() const { return tabs_; }
  int snapshotsShown() const { return snapshots_; }
  int64_t lastProbeIndex() const { return lastProbe_; }
  // Adds the LR finder's view as a tab; showLrFinder() brings it forward.
  void setLrFinderWidget(QWidget* w);
  void showLrFinder();

 private:
  widgets::TrainingPlot* loss_;
  widgets::TrainingPlot* accuracy_;
  widgets::TrainingPlot* lr_;
  widgets::ConfusionMatrixView* confusion_;
  QLabel* confusionTitle_;
  QLabel* probeImage_;
  QLabel* probeText_;
  widgets::ProbabilityBars* probeBars_;
  widgets::ActivationView* activations_;
  widgets::ActivationView* filters_;
  QTabWidget* tabs_;
  QWidget* lrFinder_ = nullptr;
  QStringList names_;
  int snapshots_ = 0;
  int64_t lastProbe_ = -1;
};

}  // namespace perceptra::studio
