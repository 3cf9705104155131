#pragma once
// Export > int8 (quantised): the calibration choice (images, method,
// held-out images for the fallback, layers kept float), quantisation on a
// worker thread (progress, cancel), and the diff report before anything is
// written: accuracy overall and per class, per-layer sensitivity, size and
// images/s of both models, and the images whose prediction flipped as an
// image grid (click: larger view with the labels). Then the int8 .pmodel
// and/or the QDQ ONNX are written. The work is core/quant's
// (quantize_model_file, the path `perceptra-cli quantize` takes), so the
// studio writes the same int8 model as the CLI with the same choices.
#include <QDialog>
#include <QFutureWatcher>
#include <QTemporaryDir>

#include <atomic>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/quant/int8_export.h"

class QCheckBox;
class QComboBox;
class QGroupBox;
class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTableWidget;

namespace perceptra::widgets {
class ImageGrid;
}

namespace perceptra::studio {

// What the worker hands back.
struct Int8Outcome {
  std::shared_ptr<quant::Int8Export> result;
  std::vector<quant::FlippedImage> flipped;
  QString error;  // empty: success
  bool cancelled = false;
};

class Int8ExportDialog : public QDialog {
  Q_OBJECT
 public:
  // `modelPath`: the float model; `source`: the open dataset (its training
  // images calibrate, its test split grades); `baseName`: default file name
  // without extension for the write dialogs.
  Int8ExportDialog(const QString& modelPath, std::shared_ptr<const DataSource> source, const QString& baseName,
                   QWidget* parent = nullptr);
  ~Int8ExportDialog() override;  // cancels a running quantisation and waits for it

  void startQuantize();
  void cancel();
  bool isRunning() const;
  // The last finished quantisation's report (null when none).
  const nlohmann::json& report() const { return report_; }
  QString lastError() const { return lastError_; }
  // Writes the quantised model; false with *error. Only after a report.
  bool writePmodel(const QString& path, QString* error = nullptr);
  bool writeOnnx(const QString& path, QString* error = nullptr);
  widgets::ImageGrid* flippedGrid() const { return grid_; }
  // Flipped images shown at most (the report lists them all).
  static constexpr int kMaxFlipped = 500;

 signals:
  void quantizeFinished(bool ok);
  void progressText(const QString& text);  // from the worker (queued)
  void progressFraction(double fraction);  // from the worker (queued)

 private:
  void buildUi();
  QGroupBox* buildSettings();   // calibration count, method, held-out images, float layers
  QWidget* buildFlippedPage();  // the flipped-image grid and its larger preview
  void onFinished();
  void showReport(const Int8Outcome& o);
  void showFlipped(const std::vector<quant::FlippedImage>& flipped);
  void showPreview(int row);
  void setRunning(bool running);
  QString className(int c) const;

  QString modelPath_, baseName_;
  std::shared_ptr<const DataSource> source_;
  std::vector<std::string> classNames_;
  QTemporaryDir tmp_;
  QFutureWatcher<Int8Outcome> watcher_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  std::shared_ptr<quant::Int8Export> result_;
  nlohmann::json report_;
  QString lastError_;

  QSpinBox *calibration_, *holdout_;
  QComboBox* method_;
  QListWidget* floatLayers_;
  QPushButton *quantizeButton_, *cancelButton_, *writeModelButton_, *writeOnnxButton_;
  QProgressBar* progress_;
  QLabel *status_, *summary_, *preview_, *previewCaption_;
  QTabWidget* tabs_;
  QTableWidget *perClass_, *layers_;
  widgets::ImageGrid* grid_;
};

}  // namespace perceptra::studio
