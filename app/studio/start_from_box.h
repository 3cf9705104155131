#pragma once
// Model dock's "Start from" choice: scratch (the spec above), a saved run's
// model, or a file — .pmodel as it is; .onnx, .pth/.pt and .safetensors
// imported through import_model (what `perceptra-cli import` runs, with the
// torchvision architecture chosen from a list for state dicts) into the
// workspace's imported/ folder. Reading and importing run on a worker
// thread; the chosen model's layers are listed with their output shapes.
#include <QFutureWatcher>
#include <QGroupBox>

#include <nlohmann/json.hpp>

#include "core/train/config.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace perceptra::studio {

class LayerTableModel;

// What the worker found: the .pmodel to start from and its spec, or an error.
struct StartModel {
  QString path, summary, error;
  nlohmann::json spec;
  quint64 generation = 0;
};

class StartFromBox : public QGroupBox {
  Q_OBJECT
 public:
  enum Source { Scratch = 0, SavedRun = 1, File = 2 };
  explicit StartFromBox(QWidget* parent = nullptr);

  // Where saved runs are listed from and imported files are written to.
  void setWorkspace(const QString& dbPath, const QString& runsDir);

  Source source() const;
  void setSource(Source s);
  // Chooses a file (as Browse… does); non-.pmodel files are imported with
  // the architecture and input size shown.
  void chooseFile(const QString& path);
  // Reloads the saved runs' list (on a worker).
  void refreshRuns();

  // The ready starting model (.pmodel), empty for scratch, while working or
  // after an error.
  QString modelPath() const;
  bool busy() const { return watcher_.isRunning(); }
  QString statusText() const;
  LayerTableModel* layers() const { return layers_; }
  // Sets config.from_model (empty: from scratch).
  void applyTo(TrainConfig& config) const;

 signals:
  // modelPath() changed: a model is ready, cleared, or failed.
  void startModelChanged();
  // Scratch, a saved run or a file was chosen (the scratch editor is
  // irrelevant unless Scratch).
  void sourceChanged(int source);

 private:
  void load();
  void finished();
  void showModel(const StartModel& m);
  QString importDir() const;

  QComboBox* source_;
  QWidget* runRow_;
  QComboBox* runs_;
  QWidget* fileRow_;
  QLineEdit* file_;
  QWidget* importRow_;
  QComboBox* arch_;
  QSpinBox* inputSize_;
  QLabel* status_;
  QTableView* table_;
  LayerTableModel* layers_;
  QString dbPath_, runsDir_, ready_;
  quint64 generation_ = 0;
  QFutureWatcher<StartModel> watcher_;
  QFutureWatcher<QList<QPair<QString, QString>>> runsWatcher_;
};

}  // namespace perceptra::studio
