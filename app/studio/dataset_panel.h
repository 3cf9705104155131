#pragma once
// Dataset dock: pick Fashion-MNIST / the sample data / an IDX or CIFAR-10
// folder / an image folder; opened off the UI thread. Shows counts, shape,
// statistics, a grid of samples per class, a class histogram, the image size
// and resize policy of image folders (changing them reopens the folder), and
// the validation split and augmentation settings with a live preview of
// augmented samples. Bad data shows its error (naming the file) in the panel.
#include <QFutureWatcher>
#include <QWidget>

#include <memory>
#include <optional>

#include "core/data/augment.h"
#include "core/data/describe.h"
#include "core/data/resolve.h"
#include "core/train/config.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QTabWidget;

namespace perceptra::widgets {
class ImageGrid;
class ClassHistogram;
}  // namespace perceptra::widgets

namespace perceptra::studio {

struct OpenedDataset {
  std::shared_ptr<const DataSource> source;
  DatasetInfo info;
  QString error;  // non-empty when opening failed
  QString request;
};

class DatasetPanel : public QWidget {
  Q_OBJECT
 public:
  explicit DatasetPanel(QWidget* parent = nullptr);
  ~DatasetPanel() override;

  // Name or path as open_dataset takes it; opens asynchronously.
  void openDataset(const QString& nameOrPath);
  bool isLoading() const;
  // The dataset currently shown (null before one has opened).
  std::shared_ptr<const DataSource> source() const { return current_.source; }
  const DatasetInfo& info() const { return current_.info; }
  QString currentRequest() const { return current_.request; }
  QString errorText() const;

  // Validation split in percent (TrainConfig::valid_pct); unset = the official test split.
  std::optional<double> validPct() const;
  AugmentOptions augment() const;
  // Shows the exact split of the run being trained (until the split settings change).
  void showRunSplit(int64_t train, int64_t valid);
  // Image folders: "auto", "224" or "HxW" (TrainConfig::image_size) and the
  // resize policy name (TrainConfig::resize).
  QString imageSize() const;
  QString resizePolicy() const;
  // Sets the requested size ("auto", "224", "HxW") and policy; an image
  // folder that is open is reopened with them. False when the text is invalid.
  bool setImageSize(const QString& size, const QString& policy);
  // The dataset fields of a training config: data, valid_pct, image_size,
  // resize, augment.
  void applyTo(TrainConfig& config) const;
  // The default dataset: Fashion-MNIST when installed, else the sample data.
  static QString defaultDataset();

  widgets::ImageGrid* sampleGrid() const { return samples_; }
  widgets::ClassHistogram* histogram() const { return histogram_; }

 public slots:
  void openFolderDialog();
  void openFileDialog();
  void refreshAugmentPreview();

 signals:
  void datasetOpened();
  void datasetFailed(const QString& error);
  void loadingChanged(bool loading);
  // The user clicked a sample (its index into the training set).
  void probeRequested(qint64 index);

 private:
  QWidget* buildSettings();
  void finished();
  void showDataset();
  void updateValidationUi();
  void updateSizeUi();
  void sizeControlsChanged();
  OpenOptions openOptions() const;

  QComboBox* picker_;
  QPushButton* openFolder_;
  QPushButton* openFile_;
  QLabel* summary_;
  QLabel* error_;
  QTabWidget* tabs_;
  widgets::ImageGrid* samples_;
  widgets::ClassHistogram* histogram_;
  widgets::ImageGrid* augmentGrid_;
  QCheckBox* officialSplit_;
  QDoubleSpinBox* validPct_;
  QLabel* splitCounts_;  // the split in images
  QComboBox* imageSize_;
  QComboBox* resize_;
  QLabel* sizeNote_;
  QString lastValidSize_ = QStringLiteral("auto");
  QCheckBox* resizedCrop_;
  QCheckBox* crop_;
  QCheckBox* flip_;
  QCheckBox* rotate_;
  QCheckBox* color_;
  QFutureWatcher<OpenedDataset> watcher_;
  bool loading_ = false;  // from openDataset() until finished() showed the result
  OpenedDataset current_;
  int previewSeed_ = 0;
  QString pending_;  // asked for while another open was running: opened next
};

}  // namespace perceptra::studio
