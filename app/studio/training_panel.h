#pragma once
// Training dock: hyper-parameters (learning rate, batch size, epochs,
// optimizer, weight decay, schedule incl. one-cycle, seed, device), the
// Train / Pause / Stop / Find LR buttons (bound to the window's actions),
// a progress bar with ETA and images/s, and the LR finder's plot whose
// suggestion is applied with one click.
#include <QWidget>

#include "core/train/config.h"

class QAction;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace perceptra::widgets {
class LrFinderPlot;
}

namespace perceptra::studio {

class CostView;
class FineTuneBox;

class TrainingPanel : public QWidget {
  Q_OBJECT
 public:
  explicit TrainingPanel(QWidget* parent = nullptr);

  // Buttons follow these actions (text, enabled state, shortcut).
  void setActions(QAction* train, QAction* pause, QAction* stop, QAction* lrFind);
  // The "Sweep…" button (opens the sweep dialog over the current settings).
  void setSweepAction(QAction* sweep);
  QPushButton* sweepButton() const { return sweep_; }

  // Writes the form's values into config (data/model are set by the window).
  void applyTo(TrainConfig& config) const;
  // Fills the form from a config (a resumed or reopened run).
  void setFrom(const TrainConfig& config);

  double learningRate() const;
  void setLearningRate(double lr);
  void setEpochs(int epochs);
  void setBatchSize(int batch);

  // Progress: call on every burst of batches / epoch. `batchesDone` and
  // `elapsedS` are this session's (since the run began or resumed): the ETA
  // is the measured rate times what is left. A speed under one image per
  // second reads as seconds per batch.
  void resetProgress(const QString& text);
  void setProgress(int epoch, int epochs, int64_t batch, int64_t batches, double imagesPerS, double elapsedS,
                   int64_t batchesDone = 0, int64_t batchSize = 0);
  QString etaText() const;
  QString rateText() const;
  CostView* costView() const { return cost_; }
  void setStatus(const QString& text);
  QString statusText() const;

  // LR finder result.
  void showLrFinder(const std::vector<double>& lrs, const std::vector<double>& losses,
                    const std::vector<double>& smoothed, double suggestion);
  widgets::LrFinderPlot* lrFinderPlot() const { return lrPlot_; }
  // The LR finder's plot and Apply button, for the window to place (a Live tab).
  QWidget* lrFinderBox() const { return lrBox_; }
  QPushButton* applyLrButton() const { return applyLr_; }
  QProgressBar* progressBar() const { return progress_; }
  // Frozen/unfrozen epochs and the LR spread of a fine-tuning run.
  FineTuneBox* fineTune() const { return fineTune_; }

 signals:
  void learningRateApplied(double lr);
  // A setting the cost estimate depends on changed (batch size, optimizer, device).
  void costSettingsChanged();

 private:
  void buildLrFinderBox();
  QDoubleSpinBox* lr_;
  QSpinBox* batch_;
  QSpinBox* epochs_;
  QComboBox* optimizer_;
  QDoubleSpinBox* momentum_;
  QDoubleSpinBox* weightDecay_;
  QComboBox* schedule_;
  QSpinBox* seed_;
  QComboBox* device_;
  QComboBox* precision_;
  FineTuneBox* fineTune_;
  QPushButton* train_;
  QPushButton* pause_;
  QPushButton* stop_;
  QPushButton* lrFind_;
  QPushButton* sweep_;
  QProgressBar* progress_;
  QLabel* eta_;
  QLabel* rate_;
  QLabel* status_;
  CostView* cost_;
  QWidget* lrBox_;
  widgets::LrFinderPlot* lrPlot_;
  QPushButton* applyLr_;
  double suggested_ = 0;
};

}  // namespace perceptra::studio
