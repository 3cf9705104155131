#pragma once
// Inspect: predictions of a model on the validation set, computed off the UI
// thread; the misclassified images sorted by loss (fastai's top losses) or
// exactly the images of one confusion-matrix cell; clicking an image shows
// its class probabilities, a Grad-CAM overlay and its activations per layer.
//
// Fixing the data (inspect_curation.cpp): the list can also be the suspects
// (likely label errors from the runs' ledgers) or the near duplicates;
// selected images are relabelled (number keys, context menu), excluded
// (Delete) or restored, Ctrl+Z undoes; each action is a new dataset version
// (CurationSession) and the marks follow the images across lists. A
// per-image history shows what every run predicted for the selected image.
#include <QColor>
#include <QFutureWatcher>
#include <QWidget>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/interp/predictions.h"
#include "core/train/setup.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QMenu;
class QPushButton;
class QTreeWidget;

namespace perceptra {
class Model;
struct LiveSnapshot;
}  // namespace perceptra

namespace perceptra::widgets {
class ImageGrid;
class ProbabilityBars;
class ActivationView;
}  // namespace perceptra::widgets

namespace perceptra::studio {

class CurationSession;

// One image of the grid, whatever the list shows.
struct InspectEntry {
  std::string image;      // identity ("" until the identities are known)
  bool testPart = false;  // its base dataset: source.test, else source.train
  int64_t baseIndex = -1;
  int label = -1, predicted = -1;
  int64_t lossPosition = -1;  // into the predictions (top losses, cells), else -1
  QString caption, toolTip;   // without the curation mark
  QColor accent;
  QString shownMark;  // the mark the grid shows now
};

enum class InspectList { TopLosses, Suspects, Duplicates };

struct InspectListResult {
  std::vector<InspectEntry> entries;
  QString header, error;
  quint64 generation = 0;
};

struct ImageHistoryResult {
  std::string image;
  std::vector<std::vector<QString>> rows;  // run, version, side, label, predicted, p(label), loss
  QString error;
};

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

  // ---- fixing the data (inspect_curation.cpp)
  CurationSession* curation() const { return curation_; }
  void setDatabasePath(const QString& path);
  void setList(InspectList list);
  InspectList list() const { return list_; }
  const std::vector<InspectEntry>& entries() const { return entries_; }
  std::vector<int> selectedRows() const;
  void selectRows(const std::vector<int>& rows);
  // On the selected images; false (and a message in the header) when refused.
  bool relabelSelected(int cls);
  bool excludeSelected();
  bool restoreSelected();
  bool undo();
  // The context menu of grid row `row` (the caller owns it; the grid's
  // right click shows it).
  QMenu* contextMenu(int row);
  QTreeWidget* historyView() const { return history_; }
  QPushButton* retrainButton() const { return retrain_; }
  QLabel* versionLabel() const { return version_; }

 signals:
  void predictionsReady();
  void detailShown(int position);
  void cellFilterCleared();
  // "Use as live probe": the selected image's dataset and index.
  void probeRequested(std::shared_ptr<const perceptra::Dataset> data, qint64 index);
  // "Retrain on this version": e.g. "sample@3".
  void retrainRequested(const QString& dataRef);
  void listReady();
  void historyShown(const QString& image);

 private:
  void predictionsFinished();
  void detailFinished();
  void fillGrid();
  void showDetailImage();
  static QString detailHint();
  // Curation (inspect_curation.cpp).
  void buildCurationUi(QLayout* head, QLayout* detail);
  void showEntries();
  void refreshMarks();
  QString markText(const InspectEntry& e) const;
  void resolveImages();
  void startList();
  void listFinished();
  void showPlainDetail(const InspectEntry& e);
  void loadHistory(const std::string& image);
  void showContextMenu(const QPoint& pos);
  std::vector<std::string> selectedImages() const;
  bool reportAction(bool ok, const QString& error);
  bool eventFilter(QObject* watched, QEvent* event) override;

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

  CurationSession* curation_;
  InspectList list_ = InspectList::TopLosses;
  std::vector<InspectEntry> entries_;
  QComboBox* listBox_ = nullptr;
  QLabel* version_ = nullptr;
  QLabel* notice_ = nullptr;
  QPushButton* retrain_ = nullptr;
  QTreeWidget* history_ = nullptr;
  QFutureWatcher<InspectListResult> listWatcher_;
  QFutureWatcher<ImageHistoryResult> historyWatcher_;
  std::string historyImage_;
};

}  // namespace perceptra::studio
