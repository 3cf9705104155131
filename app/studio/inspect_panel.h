#pragma once
// Inspect: predictions of a model on the validation set, computed off the UI
// thread; the misclassified images sorted by loss (fastai's top losses) or
// exactly the images of one confusion-matrix cell; clicking an image shows
// its class probabilities, a Grad-CAM overlay and its activations per layer.
#include <QFutureWatcher>
#include <QWidget>

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/interp/predictions.h"
#include "core/train/setup.h"

class QCheckBox;
class QLabel;
class QPushButton;

namespace perceptra {
class Model;
struct LiveSnapshot;
}

namespace perceptra::widgets {
class ImageGrid;
class ProbabilityBars;
class ActivationView;
}  // namespace perceptra::widgets

namespace perceptra::studio {

// A model shared by background jobs; the mutex serialises them (layers keep
// per-call caches, so one forward at a time).
struct SharedModel {
  std::mutex mutex;
  std::shared_ptr<Model> model;
};

struct InspectResult {
  std::shared_ptr<const PredictionSet> predictions;
  QString error;
  quint64 generation = 0;
};

struct DetailResult {
  int64_t position = -1;
  QImage image, overlay;
  std::vector<float> probabilities;
  std::shared_ptr<const LiveSnapshot> activations;
  QString camLayer;
  QString error;
  quint64 generation = 0;
};

class InspectPanel : public QWidget {
  Q_OBJECT
 public:
  explicit InspectPanel(QWidget* parent = nullptr);
  ~InspectPanel() override;

  // Predicts `model` (a copy nobody else trains) on data's validation side.
  void inspect(std::shared_ptr<Model> model, std::shared_ptr<const PreparedData> data, const QString& title);
  void clear(const QString& message);
  bool busy() const;
  // Images per prediction batch (the window's memory guard lowers it for
  // large inputs; default 256).
  void setPredictionBatch(int images) { predictionBatch_ = images > 0 ? images : 256; }
  int predictionBatch() const { return predictionBatch_; }

  // Filters to the images of one confusion cell; (-1,-1) = top losses.
  void showCell(int trueClass, int predictedClass);
  void showTopLosses();
  // Selects item i of the grid and computes its detail.
  void selectItem(int i);

  std::shared_ptr<const PredictionSet> predictions() const { return predictions_; }
  // The data being inspected (for a run in training: the trainer's own split).
  std::shared_ptr<const PreparedData> data() const { return data_; }
  const std::vector<LossItem>& shownItems() const { return shown_; }
  widgets::ImageGrid* grid() const { return grid_; }
  widgets::ProbabilityBars* probabilityBars() const { return bars_; }
  widgets::ActivationView* activations() const { return activations_; }
  int detailPosition() const { return detailPos_; }
  bool detailReady() const { return detailReady_; }
  int cellTrue() const { return cellTrue_; }
  int cellPredicted() const { return cellPred_; }

 signals:
  void predictionsReady();
  void detailShown(int position);
  void cellFilterCleared();
  // "Use as live probe": the selected image's dataset and index.
  void probeRequested(std::shared_ptr<const perceptra::Dataset> data, qint64 index);

 private:
  void predictionsFinished();
  void detailFinished();
  void fillGrid();
  void showDetailImage();
  static QString detailHint();

  widgets::ImageGrid* grid_;
  QLabel* header_;
  QPushButton* clearFilter_;
  QLabel* image_;
  QCheckBox* camToggle_;
  QPushButton* useAsProbe_;
  QLabel* detailText_;
  widgets::ProbabilityBars* bars_;
  widgets::ActivationView* activations_;

  std::shared_ptr<SharedModel> model_;
  std::shared_ptr<const PreparedData> data_;
  std::shared_ptr<const PredictionSet> predictions_;
  std::vector<LossItem> shown_;
  QStringList names_;
  int cellTrue_ = -1, cellPred_ = -1;
  int detailPos_ = -1;
  bool detailReady_ = false;
  DetailResult detail_;
  quint64 generation_ = 0;
  QFutureWatcher<InspectResult> predictWatcher_;
  QFutureWatcher<DetailResult> detailWatcher_;
  int pendingDetail_ = -1;
  int predictionBatch_ = 256;
  // An epoch's model that arrived while the previous one was still predicting.
  struct PendingInspect {
    std::shared_ptr<Model> model;
    std::shared_ptr<const PreparedData> data;
    QString title;
  };
  std::optional<PendingInspect> pendingInspect_;
};

}  // namespace perceptra::studio
