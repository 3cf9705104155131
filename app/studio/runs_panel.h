#pragma once
// Runs: the experiment store's history as a sortable, filterable table
// (model, dataset, hyper-parameters, best accuracy, status, duration);
// selecting several runs overlays their curves; a finished run can be
// reopened (confusion matrix and misclassified images from its saved model),
// an interrupted one resumed, any deleted after a confirmation. Trials of a
// sweep carry their sweep in the Sweep column ("name #id · t3"; empty for
// runs of no sweep); "Group by sweep" sorts by it, so each sweep's trials
// stand together in trial order. A running run (this studio's, the CLI's,
// rank 0 of an mpirun job) can be watched live, read-only (run_watch.h).
#include <QWidget>

#include <cstdint>
#include <string>
#include <vector>

#include "core/store/store.h"

class QCheckBox;
class QComboBox;
class QDialog;
class QHBoxLayout;
class QMenu;
class QLabel;
class QLineEdit;
class QPushButton;
class QSortFilterProxyModel;
class QStandardItemModel;
class QTableView;

namespace perceptra::widgets {
class TrainingPlot;
}

namespace perceptra::studio {

class RunsPanel : public QWidget {
  Q_OBJECT
 public:
  enum Column {
    Id,
    Name,
    ModelCol,
    DatasetCol,
    Lr,
    Batch,
    Epochs,
    Optimizer,
    BestAcc,
    Status,
    Duration,
    Started,
    SweepCol,
    ColumnCount
  };

  explicit RunsPanel(QWidget* parent = nullptr);

  void setDatabasePath(const std::string& path);
  const std::string& databasePath() const { return db_; }

  int runCount() const;
  // Ids of the selected rows (in view order).
  std::vector<int64_t> selectedRuns() const;
  void selectRuns(const std::vector<int64_t>& ids);
  // Deletes after asking (confirm=false skips the question: tests, scripts).
  bool deleteRun(int64_t id, bool confirm = true);
  // The folder a run's files were written to ("" when it recorded none).
  QString runFolder(int64_t id) const;
  // The context menu of run `id` (right-click a row): open it everywhere,
  // inspect it, resume, copy its id or folder, reveal the folder, delete.
  QMenu* runMenu(int64_t id);

  QTableView* table() const { return table_; }
  QSortFilterProxyModel* proxy() const { return proxy_; }
  QLineEdit* filterEdit() const { return filter_; }
  QCheckBox* groupBySweepBox() const { return group_; }
  // Sorts by the Sweep column (trials of a sweep together, in trial order;
  // runs of no sweep together) or back by id.
  void setGroupBySweep(bool on);
  // Opens a live, read-only view of run `id` of this store (curves and
  // progress polled from the store). Returns the dialog (it deletes itself
  // on close).
  QDialog* watchRun(int64_t id);
  widgets::TrainingPlot* overlayPlot() const { return overlay_; }

 public slots:
  void refresh();

 signals:
  void openRequested(qint64 runId);
  // Open it and bring the Inspect view forward.
  void inspectRequested(qint64 runId);
  void resumeRequested(qint64 runId);
  void message(const QString& text);

 private:
  QHBoxLayout* buildToolbar();  // filter, grouping and the run buttons
  void updateOverlay();
  void updateButtons();
  StoreOptions readOptions();

  std::string db_;
  bool recovered_ = false;  // crash recovery (a write) runs on the first open only
  QStandardItemModel* model_;
  QSortFilterProxyModel* proxy_;
  QTableView* table_;
  QLineEdit* filter_;
  QComboBox* metric_;
  QCheckBox* group_;
  QPushButton* open_;
  QPushButton* resume_;
  QPushButton* delete_;
  QLabel* status_;
  widgets::TrainingPlot* overlay_;
};

}  // namespace perceptra::studio
